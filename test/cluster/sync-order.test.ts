/**
 * Local writes may be announced in another order than they were versioned (the rows of one
 * transaction come out of the store's change events in table order). A receiver that gets
 * only the later one must not believe it holds the earlier one: repair has to bring it.
 */
import { describe, expect, test } from "bun:test";
import type { ReplicaRow } from "../../src/replication/replica-store.ts";
import { keypair, syncPair } from "./sync-pair.ts";

describe("announcement order of local writes", () => {
  test("an earlier write announced last and lost in push is still repaired", () => {
    let pushes = 0;
    // Push batches from a: only the first gets through; digest repair is never dropped.
    const p = syncPair({ drop: (m) => m.s === "e" && ++pushes > 1 });
    const rows: ReplicaRow[] = ["instance-row", "port-row"].map((k) => ({
      ...keypair(k),
      origin: "a",
      hlc: p.clocks.a.tick(),
    }));
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
    const p = syncPair();
    const rows: ReplicaRow[] = ["x", "y", "z"].map((k) => ({ ...keypair(k), origin: "a", hlc: p.clocks.a.tick() }));
    for (const r of rows) p.stores.a.put(r);
    expect(p.stores.a.before("a", rows[2].hlc)).toBe(rows[1].hlc);
    expect(p.stores.a.before("a", rows[0].hlc)).toBe("");
    expect(p.stores.a.before("b", rows[2].hlc)).toBe("");
  });
});
