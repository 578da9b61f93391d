/**
 * Local writes may be announced in another order than they were versioned (the rows of one
 * transaction come out of the store's change events in table order). A receiver that gets
 * only the later one must not believe it holds the earlier one: repair has to bring it.
 */
import { describe, expect, test } from "bun:test";
import { SyncEngine } from "../../src/cluster/sync/engine.ts";
import { MemoryReplicaStore, type ReplicaRow } from "../../src/cluster/sync/replica-store.ts";
import type { SyncTransport } from "../../src/cluster/sync/transport.ts";
import { HlcClock } from "../../src/store/hlc.ts";

const keypair = (name: string) => ({ table: "keypair" as const, key: name, deleted: false, data: { name, publicKey: "ssh-ed25519 AAAA", fingerprint: "ff", type: "ssh" } });

/** Two engines joined by hand: `drop` decides which messages from a to b are lost. */
function pair(drop: (msg: { s: string }) => boolean) {
  let now = 1_000_000;
  const clock = () => now;
  const queue: [string, string, unknown][] = [];
  const link = (self: string, peer: string): SyncTransport => ({
    sendUser: (addr, data) => (queue.push([self, addr, data]), true),
    pickLive: () => [peer],
    addressOf: (id) => id,
  });
  const stores = { a: new MemoryReplicaStore(), b: new MemoryReplicaStore() };
  const clocks = { a: new HlcClock(clock), b: new HlcClock(clock) };
  const engines = {
    a: new SyncEngine({ self: "a", store: stores.a, clock: clocks.a, transport: link("a", "b"), now }),
    b: new SyncEngine({ self: "b", store: stores.b, clock: clocks.b, transport: link("b", "a"), now }),
  };
  const run = (ms: number) => {
    for (const end = now + ms; now < end; now += 10) {
      for (const e of Object.values(engines)) e.tick(now);
      for (const [from, to, data] of queue.splice(0)) {
        if (from === "a" && drop(data as { s: string })) continue;
        engines[to as "a" | "b"].handle(from, from, data, now);
      }
    }
  };
  return { stores, clocks, engines, run };
}

describe("announcement order of local writes", () => {
  test("an earlier write announced last and lost in push is still repaired", () => {
    let pushes = 0;
    // Push batches from a: only the first gets through; digest repair is never dropped.
    const p = pair((m) => m.s === "e" && ++pushes > 1);
    const rows: ReplicaRow[] = ["instance-row", "port-row"].map((k) => ({ ...keypair(k), origin: "a", hlc: p.clocks.a.tick() }));
    for (const r of rows) p.stores.a.put(r);
    // The later row is announced (and pushed) first; the earlier one goes out in a batch that is lost.
    p.engines.a.publish(rows[1]);
    p.run(150);
    p.engines.a.publish(rows[0]);
    p.run(10_000);
    expect(p.stores.b.get("keypair", "port-row")).toBeDefined();
    expect(p.stores.b.get("keypair", "instance-row")).toBeDefined();
    expect(p.engines.b.mark("a")).toBe(rows[1].hlc);
  });

  test("the delta of a write names the newest older row of its origin as its predecessor", () => {
    const p = pair(() => false);
    const rows: ReplicaRow[] = ["x", "y", "z"].map((k) => ({ ...keypair(k), origin: "a", hlc: p.clocks.a.tick() }));
    for (const r of rows) p.stores.a.put(r);
    expect(p.stores.a.before("a", rows[2].hlc)).toBe(rows[1].hlc);
    expect(p.stores.a.before("a", rows[0].hlc)).toBe("");
    expect(p.stores.a.before("b", rows[2].hlc)).toBe("");
  });
});
