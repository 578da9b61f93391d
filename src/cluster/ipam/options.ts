/** What the quorum IPAM is built from: its tunables, its peers, its stores, its hooks. */
import type { ReplicaRow, ReplicaStore } from "../../replication/replica-store.ts";
import type { PromiseStore } from "../../replication/promise-store.ts";
import type { Duplicate } from "./duplicates.ts";

export interface IpamConfig {
  blockPrefix: number;
  /**
   * Claim the next block when fewer free addresses than this remain in our blocks (8: half a
   * /28, so a burst of boots rarely waits for the voters' round trip).
   */
  headroom: number;
  claimTimeoutMs: number;
  /**
   * A host with a new state directory (possibly rebuilt) waits at most this long before
   * allocating or voting; it is ready sooner once state sync caught up with a peer.
   */
  warmupMs: number;
  duplicateCheckIntervalMs: number;
}

export const DEFAULT_IPAM_CONFIG: IpamConfig = {
  blockPrefix: 28,
  headroom: 8,
  claimTimeoutMs: 2000,
  warmupMs: 10_000,
  duplicateCheckIntervalMs: 10_000,
};

export interface IpamPeers {
  isReachable(id: string): boolean;
  addressOf(id: string): string | undefined;
  sendUser(addr: string, data: unknown): boolean;
}

export interface IpamOptions {
  self: string;
  generation: number;
  now: number;
  random: () => number;
  peers: IpamPeers;
  store: ReplicaStore;
  /** Local replicated write (stamp, store, gossip): ClusterNode.write. */
  write: (row: Omit<ReplicaRow, "origin" | "hlc">) => ReplicaRow;
  promises: PromiseStore;
  /**
   * State sync says we hold what peers hold (SyncEngine.caughtUp): ends the warm-up of a
   * possibly rebuilt host early, so a new host serves in seconds, not after `warmupMs`.
   */
  caughtUp?: () => boolean;
  /** The very first host of a new cluster admits itself as the first voter. */
  bootstrap?: boolean;
  config?: Partial<IpamConfig>;
  /** Dataplane hook: start or stop serving a floating IP (plumb, NAT, gratuitous ARP). */
  onServe?: (address: string, serving: boolean) => void;
  onDuplicate?: (d: Duplicate[]) => void;
}

export type AllocResult = { ok: true; address: string } | { ok: false; error: string };

export const blockSlot = (net: string, cidr: string) => `block:${net}:${cidr}`;
export const fipSlot = (address: string) => `fip:${address}`;
export const voterSlot = (id: string) => `voter:${id}`;

/** `cache`'s value for `key`, made once; the cache is emptied when it holds more than `max`. */
export function cached<T>(cache: Map<string, T>, max: number, key: string, make: () => T): T {
  let v = cache.get(key);
  if (v === undefined) {
    if (cache.size > max) cache.clear();
    cache.set(key, (v = make()));
  }
  return v;
}
