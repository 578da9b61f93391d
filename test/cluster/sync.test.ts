import { describe, expect, test } from "bun:test";
import { SimCluster } from "../../src/cluster/sim/cluster.ts";
import { MemoryReplicaStore } from "../../src/cluster/sync/replica-store.ts";
import type { ReplicaRow } from "../../src/replication/replica-store.ts";
import { validateRow } from "../../src/cluster/sync/schema.ts";
import { encodeHlc } from "../../src/replication/hlc.ts";
import { rowsSince } from "../replication/rows.ts";

const keypair = (name: string, publicKey = "ssh-ed25519 AAAA") => ({
  table: "keypair" as const,
  key: name,
  deleted: false,
  data: { name, publicKey, fingerprint: "ff", type: "ssh" },
});
const hlc = (ms: number, c = 0) => encodeHlc({ ms, counter: c });

describe("replica rows", () => {
  test("memory store: last writer wins by hlc then origin; per-origin reads are ordered", () => {
    const s = new MemoryReplicaStore();
    const base = { table: "keypair" as const, key: "k", deleted: false, data: {} };
    expect(s.apply({ ...base, origin: "a", hlc: hlc(5) })).toBe(true);
    expect(s.apply({ ...base, origin: "b", hlc: hlc(4) })).toBe(false);
    expect(s.apply({ ...base, origin: "b", hlc: hlc(5) })).toBe(true);
    expect(s.apply({ ...base, origin: "a", hlc: hlc(5) })).toBe(false);
    s.apply({ ...base, key: "j", origin: "b", hlc: hlc(3) });
    expect(rowsSince(s, "b", "", 10).map((r) => r.key)).toEqual(["j", "k"]);
    expect(s.heads().get("b")).toBe(hlc(5));
    expect(s.heads().has("a")).toBe(false);
  });

  test("validation rejects bad shapes, bad addresses and foreign writers", () => {
    const host = {
      table: "host",
      key: "h1",
      origin: "h1",
      hlc: hlc(1),
      deleted: false,
      data: { id: "h1", hostname: "a", address: "10.0.0.1", generation: 1 },
    };
    expect(validateRow(host).ok).toBe(true);
    expect(validateRow({ ...host, data: { ...host.data, address: "10.0.0.256" } }).ok).toBe(false);
    expect(validateRow({ ...host, origin: "h2" }).ok).toBe(false);
    expect(validateRow({ ...host, hlc: "yesterday" }).ok).toBe(false);
    expect(validateRow({ ...host, table: "users" }).ok).toBe(false);
    expect(validateRow({ ...host, deleted: true }).ok).toBe(false);
    expect(validateRow({ ...host, deleted: true, data: null }).ok).toBe(true);
    expect(validateRow({ ...host, data: null }).ok).toBe(false);
    expect(validateRow(null).ok).toBe(false);
    const net = validateRow({
      table: "network",
      key: "n",
      origin: "x",
      hlc: hlc(1),
      deleted: false,
      data: { id: "n", cidr: "10.0.0.0/33" },
    });
    expect(net.ok).toBe(false);
  });
});

describe("simulated state sync", () => {
  test("100 % of updates reach every node under 20 % loss, LWW conflicts resolve identically", () => {
    const c = new SimCluster({ n: 30, seed: 11, loss: 0.2 });
    c.sim.run(8000);
    const rows: ReplicaRow[] = [];
    for (let k = 0; k < 120; k++) {
      // A third of the writes hit keys written elsewhere at about the same time.
      const key = k % 3 === 0 ? `shared${k % 7}` : `k${k}`;
      rows.push(c.write(Math.floor(c.sim.random() * 30), keypair(key, `ssh-ed25519 ${k}`)));
      c.sim.runFor(40);
    }
    const done = c.sim.runUntil(() => c.storesAgree(), 20_000);
    expect(done).not.toBeNull();
    for (const r of rows.filter((r) => !r.key.startsWith("shared"))) expect(c.holders(r)).toBe(30);
    const winners = new Map<string, ReplicaRow>();
    for (const r of rows) {
      const w = winners.get(r.key);
      if (!w || r.hlc > w.hlc || (r.hlc === w.hlc && r.origin > w.origin)) winners.set(r.key, r);
    }
    for (const w of winners.values()) expect(c.holders(w)).toBe(30);
  });

  test("a joining node streams the full state in pages and resumes after a restart", () => {
    const c = new SimCluster({ n: 4, seed: 12, sync: { pageBytes: 400 } });
    c.sim.run(3000);
    for (let k = 0; k < 400; k++) c.write(k % 4, keypair(`k${k}`));
    c.sim.runFor(10_000);
    expect(c.storesAgree()).toBe(true);
    const store = new MemoryReplicaStore();
    c.spawn(4, 1, ["n1"], store);
    c.sim.runUntil(() => store.size > 100, 10_000, 5);
    expect(store.size).toBeLessThan(400);
    // Crash mid-stream; the marks it saved let the next run continue instead of starting over.
    c.sim.runFor(1000);
    c.sim.kill("n4");
    const before = store.size;
    const again = c.spawn(4, 1, ["n2"], store);
    expect(c.sim.runUntil(() => store.size === 400, 20_000)).not.toBeNull();
    expect(again.node.sync.stats.applied + again.node.sync.stats.stale).toBeLessThan(400 - before + 200);
    expect(c.storesAgree()).toBe(true);
  });

  test("invalid rows are quarantined and counted on every node, never applied, never fatal", () => {
    const c = new SimCluster({ n: 10, seed: 13 });
    c.sim.run(5000);
    const bad = [
      {
        table: "host",
        key: "n9",
        origin: "n3",
        hlc: hlc(1_763_000_004_000),
        deleted: false,
        data: { id: "n9", hostname: "x", address: "10.0.0.9", generation: 1 },
      },
      {
        table: "network",
        key: "evil",
        origin: "n3",
        hlc: hlc(1_763_000_004_000),
        deleted: false,
        data: { id: "evil", cidr: "not-a-cidr" },
      },
      { table: "keypair", key: "k", origin: "n3", hlc: "NaN", deleted: false, data: {} },
    ];
    const liar = c.members[3].node;
    c.sim.poke("n3", () =>
      liar.act(c.sim.now, (n) => {
        for (const [i, r] of bad.entries()) n.swim.broadcast(`bad${i}`, { s: "d", r, p: "" });
      }),
    );
    c.sim.runFor(5000);
    const good = c.write(5, keypair("after"));
    c.sim.runFor(5000);
    let quarantined = 0;
    for (const m of c.running()) {
      quarantined += m.node.sync.stats.quarantined;
      expect(m.store.get("host", "n9")).toBeUndefined();
      expect(m.store.get("network", "evil")).toBeUndefined();
      expect(m.store.get("keypair", "k")).toBeUndefined();
    }
    // Rejected rows are not re-gossiped: only the liar's direct gossip targets see them.
    expect(quarantined).toBeGreaterThanOrEqual(3);
    expect(c.holders(good)).toBe(10);
  });

  test("rows stamped too far in the future are refused", () => {
    const c = new SimCluster({ n: 5, seed: 14, skew: (i) => (i === 4 ? 60_000 : 0) });
    c.sim.run(3000);
    const r = c.write(4, keypair("from-the-future"));
    c.sim.runFor(5000);
    expect(c.holders(r)).toBe(1);
    for (const m of c.running().slice(0, 4)) expect(m.node.sync.stats.future).toBeGreaterThan(0);
  });

  test("tombstones are collected after the grace period; a long-absent node is reset", () => {
    const c = new SimCluster({ n: 5, seed: 15, sync: { tombstoneGraceMs: 20_000, gcIntervalMs: 2_000 } });
    c.sim.run(3000);
    const row = c.write(0, keypair("doomed"));
    c.sim.runFor(3000);
    expect(c.holders(row)).toBe(5);
    // n4 goes away with its disk; meanwhile the row is deleted and its tombstone collected.
    c.sim.kill("n4");
    const keep = c.members[4].store;
    c.write(0, { table: "keypair", key: "doomed", deleted: true, data: null });
    c.sim.runFor(30_000);
    for (const m of c.running()) expect(m.store.get("keypair", "doomed")).toBeUndefined();
    const back = c.spawn(4, 1, ["n0"], keep);
    expect(keep.get("keypair", "doomed")?.deleted).toBe(false);
    expect(c.sim.runUntil(() => c.storesAgree(), 20_000)).not.toBeNull();
    expect(keep.get("keypair", "doomed")).toBeUndefined();
    expect(back.node.sync.stats.resets).toBeGreaterThan(0);
  });
});

describe("healed partition", () => {
  /** Time from healing a 40-node cluster split in halves until rows written on both sides are everywhere. */
  function healTime(seed: number): number {
    const c = new SimCluster({ n: 40, seed });
    c.sim.run(8000);
    const addrs = c.members.map((m) => m.node.addr);
    c.sim.partition([addrs.slice(0, 20), addrs.slice(20)]);
    const split = c.sim.runUntil(
      () => c.members[0].node.swim.stateOf("n39") === "dead" && c.members[39].node.swim.stateOf("n0") === "dead",
      30_000,
    );
    expect(split).not.toBeNull();
    // Writes on both sides, then long enough for push to be over (only repair can carry them).
    const rows = [0, 5, 25, 35].map((i, k) => c.write(i, keypair(`split${k}`)));
    c.sim.runFor(10_000);
    c.sim.heal();
    const t0 = c.sim.now;
    expect(c.sim.runUntil(() => rows.every((r) => c.holders(r) === 40), 30_000, 50)).not.toBeNull();
    return c.sim.now - t0;
  }

  test("rows written on both sides are everywhere soon after healing: a member back from the dead gets a digest at once", () => {
    // Seven seeds: the median was 2.85 s when repair waited for a random digest pick to cross.
    const times = [31, 32, 33, 34, 35, 36, 37].map(healTime).sort((a, b) => a - b);
    expect(times[3]).toBeLessThan(2200);
  });
});
