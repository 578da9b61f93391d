import { describe, expect, test } from "bun:test";
import {
  pushPullInterval,
  remainingSuspicion,
  retransmitLimit,
  scaledProbeInterval,
  suspicionConfirmations,
  suspicionTimeout,
} from "../../src/cluster/swim/math.ts";
import { Awareness } from "../../src/cluster/swim/awareness.ts";
import { TransmitQueue } from "../../src/cluster/swim/queue.ts";

describe("swim math", () => {
  test("suspicion timeout is the stall allowance plus a spread allowance growing with log10 N", () => {
    expect(suspicionTimeout(4000, 500, 1)).toBe(4500);
    expect(suspicionTimeout(4000, 500, 10)).toBe(4500);
    expect(suspicionTimeout(4000, 500, 100)).toBe(5000);
    expect(suspicionTimeout(4000, 500, 1000)).toBe(5500);
    // memberlist's LAN minimum is the special case of no stall allowance: 4 × log10 N × 1 s.
    expect(suspicionTimeout(0, 4000, 1000)).toBe(12000);
  });

  test("remaining suspicion falls from max to min with confirmations", () => {
    expect(remainingSuspicion(0, 2, 0, 8000, 48000)).toBe(48000);
    const one = remainingSuspicion(1, 2, 0, 8000, 48000);
    expect(one).toBeLessThan(48000);
    expect(one).toBeGreaterThan(8000);
    expect(remainingSuspicion(2, 2, 0, 8000, 48000)).toBe(8000);
    expect(remainingSuspicion(5, 2, 0, 8000, 48000)).toBe(8000);
    expect(remainingSuspicion(2, 2, 3000, 8000, 48000)).toBe(5000);
    // k = 0 (tiny clusters): the minimum applies at once.
    expect(remainingSuspicion(0, 0, 0, 4000, 24000)).toBe(4000);
  });

  test("confirmations wanted drop to zero when the cluster cannot supply them", () => {
    expect(suspicionConfirmations(2, 100)).toBe(2);
    expect(suspicionConfirmations(2, 3)).toBe(0);
    expect(suspicionConfirmations(1, 3)).toBe(1);
  });

  test("retransmit limit is mult × ceil(log10(N+1))", () => {
    expect(retransmitLimit(4, 10)).toBe(8);
    expect(retransmitLimit(4, 100)).toBe(12);
    expect(retransmitLimit(4, 1000)).toBe(16);
    expect(retransmitLimit(4, 9)).toBe(4);
  });

  test("probe interval scales with local health, push-pull with cluster size", () => {
    expect(scaledProbeInterval(1000, 0)).toBe(1000);
    expect(scaledProbeInterval(1000, 7)).toBe(8000);
    expect(pushPullInterval(30000, 32)).toBe(30000);
    expect(pushPullInterval(30000, 100)).toBe(90000);
    expect(pushPullInterval(30000, 1000)).toBe(180000);
  });

  test("awareness is clamped to 0..max-1", () => {
    const a = new Awareness(8);
    a.apply(-3);
    expect(a.score).toBe(0);
    a.apply(20);
    expect(a.score).toBe(7);
  });
});

describe("transmit queue", () => {
  test("fewest transmits first, removed after the limit, same key replaces", () => {
    const q = new TransmitQueue(10);
    const [A, B, C] = ["A", "B", "C"].map((x) => x.repeat(20));
    q.push("a", A);
    q.push("b", B);
    expect(q.take(100, 2).sort()).toEqual([A, B]);
    q.push("c", C);
    // Budget for one item: the never-sent one wins.
    expect(q.take(22, 2)).toEqual([C]);
    expect(q.take(100, 2).sort()).toEqual([A, B, C]);
    expect(q.size).toBe(0);
    q.push("a", "old");
    q.push("a", "new");
    expect(q.size).toBe(1);
    expect(q.take(100, 3)).toEqual(["new"]);
  });

  test("bounded: the most-sent item is dropped when full", () => {
    const q = new TransmitQueue(2);
    q.push("a", "A".repeat(20));
    q.take(100, 5);
    q.push("b", "B".repeat(20));
    q.push("c", "C".repeat(20));
    expect(q.size).toBe(2);
    expect(q.dropped).toBe(1);
    expect(q.take(100, 5).sort()).toEqual(["B".repeat(20), "C".repeat(20)]);
  });
});
