/**
 * Controller-less unique IPAM. Each network's fixed range is split into blocks (default /28).
 * A host hands out addresses only from blocks it holds, locally and at once; it gets a new
 * block only with a majority of the voters' persisted promises, and starts claiming the next
 * one before it runs out. A minority partition keeps allocating from what it holds and fails
 * with a clear error when it needs more. Floating IPs are single-address slots: exactly one
 * host serves each, and moving one is a release by the holder followed by a majority claim.
 * A dead host's slots come back only through `forget`, refused while that host is reachable.
 */
import type { Layer } from "../node.ts";
import type { SwimEvent } from "../swim/core.ts";
import type { ReplicaRow, ReplicaStore } from "../../replication/replica-store.ts";
import { Agreement, type ClaimOutcome } from "./agreement.ts";
import { blockAddresses, splitBlocks } from "./blocks.ts";
import { reservedOf, type ReservationFields } from "../../ipam/network-plan.ts";
import { ip4ToNum } from "../../net/ip.ts";
import { type Duplicate, findDuplicates } from "./duplicates.ts";
import { type IpamMsg, isIpamPayload, parseIpamMsg } from "./messages.ts";
import type { PromiseStore } from "../../replication/promise-store.ts";
import type { SlotRecord } from "./promises.ts";
import { Inheritance, servePromises } from "./inherit.ts";
import { SlotViews } from "./slot-views.ts";

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

const blockSlot = (net: string, cidr: string) => `block:${net}:${cidr}`;
const fipSlot = (address: string) => `fip:${address}`;
const voterSlot = (id: string) => `voter:${id}`;
/** How long a block another host was said to hold stays out of our picks. */
const HELD_ELSEWHERE_MS = 60_000;

/** `cache`'s value for `key`, made once; the cache is emptied when it holds more than `max`. */
function cached<T>(cache: Map<string, T>, max: number, key: string, make: () => T): T {
  let v = cache.get(key);
  if (v === undefined) {
    if (cache.size > max) cache.clear();
    cache.set(key, (v = make()));
  }
  return v;
}

export class Ipam implements Layer {
  readonly config: IpamConfig;
  readonly agreement: Agreement;
  readonly inheritance: Inheritance;
  readonly stats = { allocations: 0, allocFailures: 0, duplicateAlarms: 0 };
  readonly #o: IpamOptions;
  #readyAt: number;
  readonly #slots: SlotViews;
  /** Per network, our blocks found without a free address (see #freeAddresses). */
  readonly #full = new Map<string, Set<string>>();
  readonly #blockAddrs = new Map<string, string[]>();
  readonly #rangeBlocks = new Map<string, string[]>();
  readonly #demand = new Set<string>();
  readonly #lastError = new Map<string, string>();
  readonly #transfers = new Map<string, number>();
  /** Blocks a voter said another host holds, kept out of our picks until then. */
  readonly #heldElsewhere = new Map<string, number>();
  /** Floating IPs whose claim failed with nobody holding them (split votes): tried again. */
  readonly #fipRetries = new Map<string, { at: number; left: number }>();
  #now: number;
  #nextCheckAt: number;
  #nextAdmitAt: number;

  constructor(o: IpamOptions) {
    this.#o = o;
    this.#slots = new SlotViews(o.store, o.self);
    this.config = { ...DEFAULT_IPAM_CONFIG, ...o.config };
    const wiped = o.generation > 1 && o.promises.empty();
    this.#readyAt = o.now + (wiped ? this.config.warmupMs : 0);
    this.#nextCheckAt = o.now + this.config.duplicateCheckIntervalMs;
    this.#nextAdmitAt = o.now;
    this.#now = o.now;
    const peers = {
      self: o.self,
      isReachable: (id: string) => o.peers.isReachable(id),
      send: (id: string, d: IpamMsg) => this.#send(id, d),
    };
    // Our own promises are intact unless the directory is new or wiped; then we copy others'
    // before the first vote (inherit.ts). The first host of a cluster has nothing to copy.
    const inherited =
      o.bootstrap === true || o.promises.get(`inherit:${o.self}`) !== undefined || (!wiped && !o.promises.empty());
    this.inheritance = new Inheritance(
      { self: o.self, send: (id, m) => this.#send(id, m) },
      o.promises,
      Math.floor(this.config.claimTimeoutMs / 4),
      inherited,
    );
    const view = {
      voters: () => this.voters(),
      record: (slot: string) => this.record(slot),
      forgotten: (h: string) => this.forgotten(h),
      mayVote: (now: number) => this.#ready(now) && this.inheritance.complete,
    };
    this.agreement = new Agreement(peers, view, o.promises, this.config.claimTimeoutMs);
  }

  /** Past the warm-up, or state sync caught up with a peer (a wiped host learnt its past). */
  #ready(now: number): boolean {
    if (now >= this.#readyAt) return true;
    if (!this.#o.caughtUp?.()) return false;
    this.#readyAt = now;
    return true;
  }

  // ---- views over replicated state -----------------------------------------------------

  /** Latest record of one slot: the highest epoch wins (each epoch has a single writer). */
  record(slot: string): SlotRecord | undefined {
    return this.#slots.latest().get(slot);
  }

  forgotten(host: string): boolean {
    const r = this.#o.store.get("host_forgotten", host);
    return r !== undefined && !r.deleted;
  }

  voters(): string[] {
    const out: string[] = [];
    for (const [slot, r] of this.#slots.latest())
      if (slot.startsWith("voter:") && !r.released && !this.forgotten(r.owner)) out.push(r.owner);
    return out.sort();
  }

  /** Blocks of a network that we hold. */
  ownedBlocks(networkId: string): string[] {
    return this.#slots.held(`block:${networkId}:`);
  }

  /** Floating IPs we serve. */
  serving(): string[] {
    return this.#slots.held("fip:");
  }

  /** Addresses we handed out (from replicated rows we wrote, so they survive restarts). */
  allocations(networkId?: string): { networkId: string; address: string; owner: string | null }[] {
    const out: { networkId: string; address: string; owner: string | null }[] = [];
    for (const r of this.#o.store.scanPrefix("ip_alloc", `${this.#o.self}/`)) {
      const d = r.data;
      if (r.deleted || !d || d.host !== this.#o.self || (networkId && d.networkId !== networkId)) continue;
      out.push({
        networkId: String(d.networkId),
        address: String(d.address),
        owner: (d.owner as string | null) ?? null,
      });
    }
    return out;
  }

  // ---- fixed addresses -----------------------------------------------------------------

  /** Hand out one address of `networkId` to `owner` (a VIF id), from our own blocks only. */
  allocate(networkId: string, owner: string, now: number): AllocResult {
    if (!this.#ready(now))
      return this.#allocFail(
        `not ready: this host's state directory is new; learning the cluster's state (at most ${this.#readyAt - now} ms more)`,
      );
    const net = this.#network(networkId);
    if (!net) return this.#allocFail(`unknown network ${networkId}`);
    this.#demand.add(networkId);
    const a = this.#freeAddresses(networkId, net, 1)[0];
    if (a) {
      this.#o.write({
        table: "ip_alloc",
        key: `${this.#o.self}/${networkId}/${a}`,
        deleted: false,
        data: { networkId, address: a, host: this.#o.self, owner },
      });
      this.stats.allocations++;
    }
    this.#keepHeadroom(networkId, now);
    if (a) return { ok: true, address: a };
    const why = this.#lastError.get(networkId);
    return this.#allocFail(
      `network ${networkId}: no free address in this host's blocks; a new block needs a majority of voters${why ? ` (${why})` : " (claim in progress)"}`,
    );
  }

  release(networkId: string, address: string): boolean {
    const key = `${this.#o.self}/${networkId}/${address}`;
    const r = this.#o.store.get("ip_alloc", key);
    if (!r || r.deleted) return false;
    this.#o.write({ table: "ip_alloc", key, deleted: true, data: null });
    this.#full.delete(networkId);
    return true;
  }

  #allocFail(error: string): AllocResult {
    this.stats.allocFailures++;
    return { ok: false, error };
  }

  #network(id: string): { cidr: string; reserved: { has(a: string): boolean } } | undefined {
    const r = this.#o.store.get("network", id);
    const d = r && !r.deleted ? r.data : null;
    const cidr = d ? ((d.fixedCidr ?? d.cidr) as string | null) : null;
    if (!d || !cidr) return undefined;
    // nova's reservation rule (bottom/top, gateway, DHCP server, VPN, allowed_start/end), the
    // same one network-create applies.
    const rule = reservedOf({ ...(d as unknown as ReservationFields), fixedCidr: cidr });
    return { cidr, reserved: { has: (a: string) => rule(ip4ToNum(a)) } };
  }

  /**
   * Up to `limit` free addresses of our blocks, in order. An address of our blocks can only have
   * been handed out by us or by an earlier owner of its block (a forgotten host), so each
   * candidate is looked up under those hosts' keys: the cost follows our free addresses, not
   * the cluster's allocations. Blocks found full are remembered until we release an address
   * (others never free ours; rows arriving late only take more).
   */
  #freeAddresses(networkId: string, net: { reserved: { has(a: string): boolean } }, limit: number): string[] {
    const out: string[] = [];
    const full = this.#full.get(networkId) ?? new Set<string>();
    this.#full.set(networkId, full);
    for (const block of this.ownedBlocks(networkId)) {
      if (full.has(block)) continue;
      const hosts = [...new Set([this.#o.self, ...this.#slots.owners(blockSlot(networkId, block))])];
      const found = out.length;
      for (const a of this.#addresses(block)) {
        if (net.reserved.has(a) || hosts.some((h) => this.#inUse(`${h}/${networkId}/${a}`))) continue;
        out.push(a);
        if (out.length >= limit) return out;
      }
      if (out.length === found) full.add(block);
    }
    return out;
  }

  #inUse(key: string): boolean {
    const r = this.#o.store.get("ip_alloc", key);
    return r !== undefined && !r.deleted;
  }

  /** A range's blocks, split once per range (a /16 has 4,096 of /28). */
  #blocksOf(cidr: string): string[] {
    return cached(this.#rangeBlocks, 64, cidr, () => splitBlocks(cidr, this.config.blockPrefix));
  }

  /** A block's addresses, parsed once (bounded: the blocks of networks we allocate in). */
  #addresses(block: string): string[] {
    return cached(this.#blockAddrs, 4096, block, () => blockAddresses(block));
  }

  /** Claim the next block while we still have `headroom` addresses left. */
  #keepHeadroom(networkId: string, now: number): void {
    const net = this.#network(networkId);
    if (
      !net ||
      !this.#ready(now) ||
      this.#freeAddresses(networkId, net, this.config.headroom).length >= this.config.headroom
    )
      return;
    if (this.agreement.anyPending(`block:${networkId}:`)) return;
    const gone = new Set<string>();
    for (const r of this.#o.store.scan("host_forgotten")) if (!r.deleted) gone.add(r.key);
    // The first free blocks in address order: a random pick among them keeps concurrent
    // claimants apart, and the walk stops there (a /16 has 4,096 blocks).
    const free: string[] = [];
    for (const b of this.#blocksOf(net.cidr)) {
      const slot = blockSlot(networkId, b);
      if ((this.#heldElsewhere.get(slot) ?? 0) > now) continue;
      const rec = this.record(slot);
      if (!rec || rec.released || gone.has(rec.owner)) free.push(b);
      if (free.length === 8) break;
    }
    if (free.length === 0) {
      this.#lastError.set(networkId, "every block of the range is held");
      return;
    }
    const block = free[Math.floor(this.#o.random() * free.length)];
    this.agreement.claim(blockSlot(networkId, block), now, (o) => this.#claimed(o, { networkId }));
  }

  #claimed(o: ClaimOutcome, ctx: { networkId?: string; address?: string }): void {
    if (!o.ok) {
      if (ctx.networkId) this.#lastError.set(ctx.networkId, o.error);
      // A voter told us who holds it (its record has not reached us): pick other blocks.
      if (o.state && o.state.owner !== this.#o.self && !o.state.released)
        this.#heldElsewhere.set(o.slot, this.#now + HELD_ELSEWHERE_MS);
      if (ctx.address) this.#retryFloating(ctx.address);
      // An admission refused for a passing reason (another one in flight, a voter still
      // copying promises): try again after a short random pause, not a whole admit round.
      if (o.slot === voterSlot(this.#o.self))
        this.#nextAdmitAt = this.#now + Math.floor(this.config.claimTimeoutMs * (0.1 + 0.3 * this.#o.random()));
      return;
    }
    if (ctx.networkId) this.#lastError.delete(ctx.networkId);
    if (ctx.address) this.#fipRetries.delete(ctx.address);
    // Admitted: start copying promises on the next tick rather than the next admit round.
    if (o.slot === voterSlot(this.#o.self)) this.#nextAdmitAt = this.#now;
    this.#o.write({
      table: "ipam_slot",
      key: `${o.slot}@${o.epoch}`,
      deleted: false,
      data: { slot: o.slot, owner: this.#o.self, epoch: o.epoch, released: false },
    });
    if (ctx.address) this.#o.onServe?.(ctx.address, true);
  }

  // ---- floating IPs --------------------------------------------------------------------

  /**
   * Start serving a floating IP here. If another reachable host serves it, it is asked to
   * hand it over and the claim follows its release; the result then says "pending".
   */
  serveFloating(
    address: string,
    now: number,
  ): { ok: true; state: "serving" | "pending" } | { ok: false; error: string } {
    const slot = fipSlot(address);
    const rec = this.record(slot);
    if (rec && !rec.released && rec.owner === this.#o.self) return { ok: true, state: "serving" };
    if (rec && !rec.released && !this.forgotten(rec.owner)) {
      if (!this.#o.peers.isReachable(rec.owner))
        return {
          ok: false,
          error: `floating IP ${address} is served by ${rec.owner}, which is unreachable; run "netlet host forget ${rec.owner}" if it is gone`,
        };
      this.#send(rec.owner, { i: "t", slot });
      this.#transfers.set(address, now + 3 * this.config.claimTimeoutMs);
      return { ok: true, state: "pending" };
    }
    this.agreement.claim(slot, now, (o) => this.#claimed(o, { address }));
    return { ok: true, state: "pending" };
  }

  /** Stop serving a floating IP (disassociate, or hand-over to another host). */
  releaseFloating(address: string): boolean {
    const slot = fipSlot(address);
    const rec = this.record(slot);
    if (!rec || rec.released || rec.owner !== this.#o.self) return false;
    // Stop serving first, then persist and announce: never two servers, at worst none briefly.
    this.#o.onServe?.(address, false);
    this.#o.write({
      table: "ipam_slot",
      key: `${slot}@${rec.epoch}`,
      deleted: false,
      data: { slot, owner: this.#o.self, epoch: rec.epoch, released: true },
    });
    this.agreement.release(slot, rec.epoch);
    return true;
  }

  // ---- forget --------------------------------------------------------------------------

  /** `netlet host forget HOST`: reclaim a dead host's slots; refused while it is reachable. */
  forget(host: string): { ok: true } | { ok: false; error: string } {
    if (host === this.#o.self) return { ok: false, error: "cannot forget this host itself" };
    if (this.#o.peers.isReachable(host))
      return { ok: false, error: `refusing to forget ${host}: it is reachable (alive or suspect)` };
    this.#o.write({ table: "host_forgotten", key: host, deleted: false, data: { host, generation: 0 } });
    return { ok: true };
  }

  checkDuplicates(): Duplicate[] {
    const d = findDuplicates(this.#o.store.scan("ip_alloc"));
    if (d.length) {
      this.stats.duplicateAlarms++;
      this.#o.onDuplicate?.(d);
    }
    return d;
  }

  // ---- layer ---------------------------------------------------------------------------

  handle(from: string, _addr: string, data: unknown, now: number): boolean {
    this.#now = now;
    if (!isIpamPayload(data)) return false;
    const m = parseIpamMsg(data);
    if (!m) return true;
    if (m.i === "q") {
      // Served even before our own copy is complete: a voter that has not voted yet made no
      // promises of its own to miss, and two newcomers copying from each other would
      // otherwise wait for each other for ever.
      this.#send(from, { i: "p", a: m.a, ...servePromises(this.#o.promises, m.a) });
      return true;
    }
    if (m.i === "p") {
      this.inheritance.handle(from, m.a, m.ps, m.nx, now);
      return true;
    }
    if (m.i === "t") {
      // Hand over: stop serving, then tell the asker too so it can claim at once.
      const rec = this.record(m.slot);
      if (this.releaseFloating(m.slot.slice(4)) && rec && !this.voters().includes(from))
        this.#send(from, { i: "l", slot: m.slot, e: rec.epoch });
      return true;
    }
    this.agreement.handle(from, m, now);
    if (m.i === "l" && m.slot.startsWith("fip:") && this.#transfers.has(m.slot.slice(4))) {
      const address = m.slot.slice(4);
      this.#transfers.delete(address);
      this.agreement.claim(m.slot, now, (o) => this.#claimed(o, { address }), 0, m.e + 1);
    }
    return true;
  }

  onMember(_e: Extract<SwimEvent, { type: "member" }>, _now: number): void {}

  nextDeadline(): number {
    // Pending hand-overs are looked at on the periodic admit/headroom tick.
    let d = Math.min(
      this.agreement.nextDeadline(),
      this.inheritance.nextDeadline(),
      this.#nextCheckAt,
      this.#nextAdmitAt,
    );
    for (const r of this.#fipRetries.values()) d = Math.min(d, r.at);
    return d;
  }

  tick(now: number): void {
    this.#now = now;
    this.agreement.tick(now);
    this.#tickFloatingRetries(now);
    this.inheritance.tick(now);
    if (now >= this.#nextAdmitAt) {
      // Jitter keeps hosts that joined together from colliding on every retry.
      this.#nextAdmitAt = now + this.config.claimTimeoutMs * (0.5 + this.#o.random());
      this.#admit(now);
      for (const n of this.#demand) this.#keepHeadroom(n, now);
    }
    for (const [address, until] of this.#transfers) {
      const rec = this.record(fipSlot(address));
      if (!rec || rec.released || this.forgotten(rec.owner)) {
        this.#transfers.delete(address);
        this.serveFloating(address, now);
      } else if (now >= until) this.#transfers.delete(address);
    }
    if (now >= this.#nextCheckAt) {
      this.#nextCheckAt = now + this.config.duplicateCheckIntervalMs;
      this.checkDuplicates();
    }
  }

  /** Become a voter: the first host of a cluster by itself, every later one by a majority. */
  #admit(now: number): void {
    const slot = voterSlot(this.#o.self);
    if (!this.#ready(now)) return;
    const voters = this.voters();
    if (this.record(slot)) {
      // Admitted (now or in an earlier life) but our table is not whole: copy before voting.
      if (!this.inheritance.complete && !this.inheritance.running && voters.includes(this.#o.self)) {
        this.inheritance.start(voters, Math.min(voters.length - 1, Math.ceil(voters.length / 2)), now);
      }
      return;
    }
    if (this.agreement.pending(slot)) return;
    if (voters.length === 0) {
      if (this.#o.bootstrap) this.#claimed({ ok: true, slot, epoch: 1 }, {});
      return;
    }
    this.agreement.claim(slot, now, (o) => this.#claimed(o, {}));
  }

  /**
   * Two hosts claiming the same floating IP at once can split the votes so that neither wins;
   * each tries again after a random pause (three times), unless someone holds it by then.
   */
  #retryFloating(address: string): void {
    const r = this.#fipRetries.get(address) ?? { at: 0, left: 3 };
    if (r.left <= 0) return void this.#fipRetries.delete(address);
    r.left--;
    r.at = this.#now + Math.floor(this.config.claimTimeoutMs * (0.5 + this.#o.random()));
    this.#fipRetries.set(address, r);
  }

  #tickFloatingRetries(now: number): void {
    for (const [address, r] of this.#fipRetries) {
      if (now < r.at) continue;
      r.at = Infinity;
      const rec = this.record(fipSlot(address));
      if ((rec && !rec.released && !this.forgotten(rec.owner)) || this.agreement.pending(fipSlot(address)))
        this.#fipRetries.delete(address);
      else this.serveFloating(address, now);
    }
  }

  #send(id: string, d: IpamMsg): void {
    const addr = this.#o.peers.addressOf(id);
    if (addr) this.#o.peers.sendUser(addr, d);
  }
}
