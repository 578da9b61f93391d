/**
 * One contract, two implementations: the in-memory stores the simulator runs on and the SQLite
 * ones the agent runs on must behave alike, so what the simulator proves holds in production.
 * The rows are IPAM bookkeeping (any shape the cluster validates) and tombstones, which every
 * implementation stores whatever the table.
 */
import { describe, expect, test } from "bun:test";
import { MemoryPromiseStore } from "../../src/cluster/ipam/promises.ts";
import { MemoryReplicaStore } from "../../src/cluster/sync/replica-store.ts";
import type { PromiseStore } from "../../src/replication/promise-store.ts";
import type { ReplicaRow, ReplicaStore, ReplicaTable } from "../../src/replication/replica-store.ts";
import { SqlitePromiseStore, SqliteReplicaStore } from "../../src/store/replica.ts";
import { memStore } from "../store/fixtures.ts";
import { rowsSince } from "./rows.ts";

const IMPLEMENTATIONS: [string, () => ReplicaStore][] = [
  ["memory", () => new MemoryReplicaStore()],
  ["sqlite", () => new SqliteReplicaStore(memStore("node-a"))],
];

const PROMISES: [string, () => PromiseStore][] = [
  ["memory", () => new MemoryPromiseStore()],
  ["sqlite", () => new SqlitePromiseStore(memStore("node-a"))],
];

const hlc = (ms: number, c = 0) => `${String(ms).padStart(15, "0")}.${String(c).padStart(5, "0")}`;

function slot(key: string, origin: string, at: number, owner = origin): ReplicaRow {
  return { table: "ipam_slot", key, origin, hlc: hlc(at), deleted: false, data: { slot: key, owner, epoch: at } };
}

function alloc(key: string, origin: string, at: number): ReplicaRow {
  return { table: "ip_alloc", key, origin, hlc: hlc(at), deleted: false, data: { address: key, owner: origin } };
}

function tombstone(table: ReplicaTable, key: string, origin: string, at: number): ReplicaRow {
  return { table, key, origin, hlc: hlc(at), deleted: true, data: null };
}

const keys = (rows: Iterable<{ key: string }>) => [...rows].map((r) => r.key);

for (const [name, make] of IMPLEMENTATIONS) {
  describe(`ReplicaStore contract (${name})`, () => {
    test("a row put is read back whole, by key, by table and by key prefix", () => {
      const s = make();
      s.put(slot("block:n1:10.0.0.0/28", "node-a", 1));
      s.put(slot("block:n2:10.1.0.0/28", "node-a", 2));
      s.put(alloc("n1:10.0.0.2", "node-a", 3));
      expect(s.get("ipam_slot", "block:n1:10.0.0.0/28")).toEqual(slot("block:n1:10.0.0.0/28", "node-a", 1));
      expect(s.get("ipam_slot", "n1:10.0.0.2")).toBeUndefined();
      expect(keys(s.scan("ipam_slot")).sort()).toEqual(["block:n1:10.0.0.0/28", "block:n2:10.1.0.0/28"]);
      expect(keys(s.scanPrefix("ipam_slot", "block:n2:"))).toEqual(["block:n2:10.1.0.0/28"]);
      expect(keys(s.scanPrefix("ip_alloc", "n1:"))).toEqual(["n1:10.0.0.2"]);
    });

    test("apply keeps the newer version: by hlc, then by origin; an older or equal one changes nothing", () => {
      const s = make();
      expect(s.apply(slot("b", "node-b", 5))).toBe(true);
      expect(s.apply(slot("b", "node-c", 4))).toBe(false);
      expect(s.apply(slot("b", "node-b", 5))).toBe(false);
      expect(s.get("ipam_slot", "b")?.origin).toBe("node-b");
      // Same clock reading on two nodes: the higher origin wins everywhere, so replicas converge.
      expect(s.apply(slot("b", "node-c", 5))).toBe(true);
      expect(s.apply(slot("b", "node-a", 5))).toBe(false);
      expect(s.get("ipam_slot", "b")?.origin).toBe("node-c");
      expect(s.apply(slot("b", "node-a", 6, "node-a"))).toBe(true);
      expect(s.get("ipam_slot", "b")?.data?.owner).toBe("node-a");
    });

    test("heads, changedSince, refsSince and before follow each origin's versions in order", () => {
      const s = make();
      for (const [k, o, t] of [
        ["a1", "node-a", 3],
        ["b1", "node-b", 2],
        ["a2", "node-a", 1],
        ["a3", "node-a", 7],
        ["b2", "node-b", 9],
      ] as const)
        s.apply(slot(k, o, t));
      expect(Object.fromEntries(s.heads())).toEqual({ "node-a": hlc(7), "node-b": hlc(9) });
      expect(keys(rowsSince(s, "node-a", "", 10))).toEqual(["a2", "a1", "a3"]);
      expect(keys(rowsSince(s, "node-a", hlc(1), 10))).toEqual(["a1", "a3"]);
      expect(keys(rowsSince(s, "node-a", "", 2))).toEqual(["a2", "a1"]);
      expect(s.refsSince("node-a", hlc(1), 10)).toEqual([
        { table: "ipam_slot", key: "a1", hlc: hlc(3) },
        { table: "ipam_slot", key: "a3", hlc: hlc(7) },
      ]);
      expect(rowsSince(s, "node-z", "", 10)).toEqual([]);
      expect(s.before("node-a", hlc(7))).toBe(hlc(3));
      expect(s.before("node-a", hlc(1))).toBe("");
      expect(s.before("node-b", hlc(100))).toBe(hlc(9));
      // A row taken over by another origin leaves its old origin's versions.
      s.apply(slot("a3", "node-b", 10));
      expect(s.heads().get("node-a")).toBe(hlc(3));
      expect(keys(rowsSince(s, "node-b", "", 10))).toEqual(["b1", "b2", "a3"]);
    });

    test("changes() moves with the writes of its own table only", () => {
      const s = make();
      const slots0 = s.changes("ipam_slot");
      const allocs0 = s.changes("ip_alloc");
      s.put(slot("x", "node-a", 1));
      s.apply(slot("y", "node-b", 2));
      expect(s.changes("ipam_slot")).not.toBe(slots0);
      expect(s.changes("ip_alloc")).toBe(allocs0);
      const slots1 = s.changes("ipam_slot");
      s.apply(slot("y", "node-b", 1)); // older: no write
      expect(s.changes("ipam_slot")).toBe(slots1);
    });

    test("tombstones replicate, shadow older puts, and are collected once old enough", () => {
      const s = make();
      s.apply(slot("gone", "node-b", 2));
      expect(s.apply(tombstone("ipam_slot", "gone", "node-b", 4))).toBe(true);
      expect(s.get("ipam_slot", "gone")?.deleted).toBe(true);
      // A tombstone for a row never seen is kept, so the late original cannot come back.
      expect(s.apply(tombstone("instance", "ghost", "node-c", 5))).toBe(true);
      expect(s.apply({ ...tombstone("instance", "ghost", "node-c", 3), deleted: false, data: null })).toBe(false);
      expect(s.get("instance", "ghost")?.deleted).toBe(true);
      expect(keys(rowsSince(s, "node-c", "", 10))).toEqual(["ghost"]);
      expect(s.collectTombstones(hlc(5))).toBe(1);
      expect(s.get("ipam_slot", "gone")).toBeUndefined();
      expect(s.get("instance", "ghost")?.deleted).toBe(true);
      expect(s.collectTombstones(hlc(6))).toBe(1);
      expect(s.get("instance", "ghost")).toBeUndefined();
    });

    test("dropOrigin forgets every row last written by one origin; marks persist as given", () => {
      const s = make();
      s.apply(slot("b1", "node-b", 1));
      s.apply(alloc("b:10.0.0.9", "node-b", 2));
      s.apply(slot("c1", "node-c", 3));
      expect(s.dropOrigin("node-b")).toBe(2);
      expect(s.heads().has("node-b")).toBe(false);
      expect(keys(s.scan("ipam_slot"))).toEqual(["c1"]);
      expect(s.loadMarks()).toEqual({});
      s.saveMarks({ "node-c": hlc(3) });
      expect(s.loadMarks()).toEqual({ "node-c": hlc(3) });
    });
  });
}

for (const [name, make] of PROMISES) {
  describe(`PromiseStore contract (${name})`, () => {
    test("promises read back, page in slot order, and empty() tells a fresh store", () => {
      const p = make();
      expect(p.empty()).toBe(true);
      expect(p.get("block:b")).toBeUndefined();
      p.put("block:b", { owner: "node-b", epoch: 2, released: false });
      p.put("block:a", { owner: "node-a", epoch: 1, released: false });
      p.put("block:c", { owner: "node-c", epoch: 3, released: true });
      p.put("block:b", { owner: "node-a", epoch: 4, released: false });
      expect(p.empty()).toBe(false);
      expect(p.get("block:b")).toEqual({ owner: "node-a", epoch: 4, released: false });
      expect(p.after("", 2).map(([k]) => k)).toEqual(["block:a", "block:b"]);
      expect(p.after("block:a", 10)).toEqual([
        ["block:b", { owner: "node-a", epoch: 4, released: false }],
        ["block:c", { owner: "node-c", epoch: 3, released: true }],
      ]);
    });
  });
}
