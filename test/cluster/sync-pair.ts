/** Two state-sync engines joined by hand, for tests that need to drop or watch single messages. */
import { type SyncConfig, SyncEngine } from "../../src/cluster/sync/engine.ts";
import { MemoryReplicaStore } from "../../src/cluster/sync/replica-store.ts";
import type { SyncTransport } from "../../src/cluster/sync/transport.ts";
import { HlcClock } from "../../src/replication/hlc.ts";

export const keypair = (name: string) => ({
  table: "keypair" as const,
  key: name,
  deleted: false,
  data: { name, publicKey: "ssh-ed25519 AAAA", fingerprint: "ff", type: "ssh" },
});

export interface PairOptions {
  /** Messages from a to b for which this returns true are lost. */
  drop?: (msg: { s: string }) => boolean;
  stores?: { a?: MemoryReplicaStore; b?: MemoryReplicaStore };
  config?: { a?: Partial<SyncConfig>; b?: Partial<SyncConfig> };
}

export function syncPair(o: PairOptions = {}) {
  let now = 1_000_000;
  const clock = () => now;
  const queue: [string, string, unknown][] = [];
  const link = (self: string, peer: string): SyncTransport => ({
    sendUser: (addr, data) => (queue.push([self, addr, data]), true),
    pickLive: () => [peer],
    addressOf: (id) => id,
  });
  const stores = { a: o.stores?.a ?? new MemoryReplicaStore(), b: o.stores?.b ?? new MemoryReplicaStore() };
  const clocks = { a: new HlcClock(clock), b: new HlcClock(clock) };
  const engines = {
    a: new SyncEngine({
      self: "a",
      store: stores.a,
      clock: clocks.a,
      transport: link("a", "b"),
      now,
      config: o.config?.a,
    }),
    b: new SyncEngine({
      self: "b",
      store: stores.b,
      clock: clocks.b,
      transport: link("b", "a"),
      now,
      config: o.config?.b,
    }),
  };
  /** Run both engines for `ms`, delivering messages every 10 ms; stops early when `until` holds. */
  const run = (ms: number, until: () => boolean = () => false) => {
    for (const end = now + ms; now < end && !until(); now += 10) {
      for (const e of Object.values(engines)) e.tick(now);
      for (const [from, to, data] of queue.splice(0)) {
        if (from === "a" && o.drop?.(data as { s: string })) continue;
        engines[to as "a" | "b"].handle(from, from, data, now);
      }
    }
    return now;
  };
  return { stores, clocks, engines, run, now: () => now };
}
