import { describe, expect, test } from "bun:test";
import { SIM_EPOCH_MS, SimCluster } from "../../src/cluster/sim/cluster.ts";
import { parseSyncMsg } from "../../src/cluster/sync/messages.ts";
import { MemoryReplicaStore } from "../../src/cluster/sync/replica-store.ts";
import type { ReplicaRow } from "../../src/replication/replica-store.ts";
import { fromWire, hlcFromWire, hlcToWire, toWire, validateRow } from "../../src/cluster/sync/schema.ts";
import { encodeHlc } from "../../src/replication/hlc.ts";

const keypair = (name: string) => ({
  table: "keypair" as const,
  key: name,
  deleted: false,
  data: { name, publicKey: "ssh-ed25519 AAAA", fingerprint: "ff", type: "ssh" },
});

describe("wire forms", () => {
  test("versions shrink to base 36 and read back to the sortable form; junk is refused", () => {
    const h = encodeHlc({ ms: SIM_EPOCH_MS + 12_345, counter: 42 });
    const w = hlcToWire(h);
    expect(w.length).toBeLessThan(h.length / 2 + 2);
    expect(hlcFromWire(w)).toBe(h);
    expect(hlcFromWire("")).toBe("");
    expect(hlcFromWire(h)).toBe(h);
    for (const bad of ["NaN", "zzzzzzzzzz.zz", "1.", ".1", "1.zzzzz", "-1.0"]) expect(hlcFromWire(bad)).toBeNull();
    expect(parseSyncMsg({ s: "d", r: null, p: "not a version" })).toBeNull();
    expect(parseSyncMsg({ s: "w", bk: [], w: [["n1", w, [w]]], q: 0 })).toEqual({
      s: "w",
      bk: [],
      w: [["n1", h, [h]]],
      q: 0,
    });
  });

  test("rows travel as tuples and are validated exactly like objects", () => {
    const row: ReplicaRow = { ...keypair("k"), origin: "n1", hlc: encodeHlc({ ms: SIM_EPOCH_MS, counter: 0 }) };
    const wire = toWire(row);
    expect(JSON.stringify(wire).length).toBeLessThan(JSON.stringify(row).length * 0.8);
    const v = validateRow(wire);
    expect(v.ok && v.row).toEqual(row);
    expect(validateRow([...wire.slice(0, 3), "zz.zz.zz", 0, row.data]).ok).toBe(false);
    expect(validateRow([...wire.slice(0, 4), 2, row.data]).ok).toBe(false);
    expect(validateRow(wire.slice(0, 5)).ok).toBe(false);
    expect(fromWire("x")).toBe("x");
  });
});

describe("repair", () => {
  test("marks spread over several messages never make a peer re-send rows we hold", () => {
    // 300 origins: one node's marks for the differing buckets need several packets.
    const rows: ReplicaRow[] = [];
    for (let o = 0; o < 300; o++) {
      for (let k = 0; k < 3; k++)
        rows.push({
          ...keypair(`o${o}k${k}`),
          origin: `src${o}`,
          hlc: encodeHlc({ ms: SIM_EPOCH_MS - 60_000 + k, counter: o }),
        });
    }
    const full = (skipLast: boolean) => {
      const s = new MemoryReplicaStore();
      const marks: Record<string, string> = {};
      for (const r of rows) {
        // The lagging node misses the newest row of every tenth origin.
        if (skipLast && r.key.endsWith("k2") && Number(r.origin.slice(3)) % 10 === 0) continue;
        s.apply(r);
        marks[r.origin] = r.hlc > (marks[r.origin] ?? "") ? r.hlc : marks[r.origin];
      }
      s.saveMarks(marks);
      return s;
    };
    const c = new SimCluster({ n: 3, seed: 21, makeStore: (i) => full(i === 2) });
    const lag = c.members[2];
    expect(lag.store.size).toBe(870);
    expect(c.sim.runUntil(() => lag.store.size === 900, 10_000)).not.toBeNull();
    expect(lag.node.sync.stats.pageRows).toBeGreaterThanOrEqual(30);
    // Only the 30 missing rows (each perhaps from both peers before the first lands).
    expect(lag.node.sync.stats.pageStale).toBeLessThanOrEqual(30);
    expect(c.storesAgree()).toBe(true);
  });

  test("a write storm converges everywhere under loss, with push and the outbox bounded", () => {
    const c = new SimCluster({ n: 30, seed: 22, loss: 0.1, sync: { pushBytesPerSec: 6_000, pushMaxItems: 64 } });
    c.sim.run(5000);
    let pushed = 0;
    const t0 = c.sim.now;
    c.sim.onSend = (_f, _t, data) => {
      if (data.includes('"s":"e"')) pushed += data.length;
    };
    const rows: ReplicaRow[] = [];
    for (let k = 0; k < 300; k++) {
      rows.push(c.write(k % 30, keypair(`storm${k}`)));
      c.sim.runFor(10);
    }
    const elapsed = (c.sim.now - t0) / 1000;
    c.sim.onSend = undefined;
    // Budget per node: burst (a quarter second) plus the rate, plus one batch of slack.
    expect(pushed / 30).toBeLessThanOrEqual(6_000 * (elapsed + 0.25) + 1_100);
    expect(c.sim.runUntil(() => rows.every((r) => c.holders(r) === 30), 20_000)).not.toBeNull();
    expect(c.storesAgree()).toBe(true);
  });
});

describe("marks messages", () => {
  test("versions relative to a base read back to absolute; an overflowing base is refused", () => {
    const h = encodeHlc({ ms: SIM_EPOCH_MS + 5_000, counter: 3 });
    const base = SIM_EPOCH_MS;
    const rel = hlcToWire(h, base);
    expect(rel).toBe(`${(5_000).toString(36)}.3`);
    expect(
      parseSyncMsg({
        s: "w",
        bk: [],
        w: [
          ["n1", rel, [rel]],
          ["n2", ""],
        ],
        q: 0,
        b: base,
      }),
    ).toEqual({
      s: "w",
      bk: [],
      w: [
        ["n1", h, [h]],
        ["n2", ""],
      ],
      q: 0,
      b: base,
    });
    expect(parseSyncMsg({ s: "w", bk: [], w: [["n1", "zzzzzzzzz.0"]], q: 0, b: 10 ** 15 - 1 })).toBeNull();
    expect(parseSyncMsg({ s: "w", bk: [], w: [], q: 0, b: -1 })).toBeNull();
  });
});
