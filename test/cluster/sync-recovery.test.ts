/**
 * A new state directory pulls its own rows back from peers before it counts as caught up
 * (`recoverOwnRows`); a host whose rows nobody holds is caught up at the first matching digest,
 * not after the 30 s give-up.
 */
import { describe, expect, test } from "bun:test";
import { MemoryReplicaStore } from "../../src/cluster/sync/replica-store.ts";
import type { ReplicaRow } from "../../src/replication/replica-store.ts";
import { keypair, syncPair } from "./sync-pair.ts";

describe("recovery of a new state directory", () => {
  test("a host new to the cluster is caught up at the first digest that matches", () => {
    const p = syncPair({ config: { b: { recoverOwnRows: true } } });
    const net = { ...keypair("net"), origin: "a", hlc: p.clocks.a.tick() };
    p.stores.a.put(net);
    p.engines.a.publish(net);
    const t0 = p.now();
    p.run(30_000, () => p.engines.b.caughtUp());
    expect(p.engines.b.caughtUp()).toBe(true);
    expect(p.stores.b.get("keypair", "net")).toBeDefined();
    expect(p.now() - t0).toBeLessThan(5000);
  });

  test("a wiped host is caught up only once a peer gave its own rows back; its mark then covers them", () => {
    const old: ReplicaRow[] = [];
    const a = new MemoryReplicaStore();
    let p = syncPair({ stores: { a } });
    for (const k of ["vm1", "vm2", "vm3"]) {
      const row = { ...keypair(k), origin: "b", hlc: p.clocks.b.tick() };
      p.stores.b.put(row);
      p.engines.b.publish(row);
      old.push(row);
    }
    p.run(3000);
    expect(a.size).toBe(3);
    // b comes back with an empty store; a may answer only digests at first (pages are lost).
    let pagesLost = true;
    p = syncPair({ stores: { a }, config: { b: { recoverOwnRows: true } }, drop: (m) => pagesLost && m.s === "r" });
    p.run(5000);
    expect(p.engines.b.caughtUp()).toBe(false);
    pagesLost = false;
    p.run(10_000, () => p.engines.b.caughtUp());
    expect(p.engines.b.caughtUp()).toBe(true);
    expect(p.stores.b.size).toBe(3);
    expect(p.engines.b.mark("b")).toBe(old[2].hlc);
  });
});
