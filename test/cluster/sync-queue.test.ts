import { describe, expect, test } from "bun:test";
import { TransmitQueue } from "../../src/cluster/swim/queue.ts";

describe("broadcast queue lanes", () => {
  test("membership items go before row deltas, whatever their age or transmit count", () => {
    const q = new TransmitQueue(100, 50);
    for (let i = 0; i < 10; i++) q.push(`u:row${i}`, `{"d":${"x".repeat(40)}${i}}`);
    q.push("m:n1", `{"t":"S","n":"n1"}`);
    q.take(1000, 10);
    // Room for one item: the membership message wins although it has been sent once already.
    const one = q.take(30, 10);
    expect(one).toEqual([`{"t":"S","n":"n1"}`]);
    expect(q.size).toBe(11);
  });

  test("the payload lane is bounded on its own and drops its most-sent items first", () => {
    const q = new TransmitQueue(100, 4);
    q.push("m:a", "A".repeat(20));
    q.push("u:1", "1".repeat(20));
    q.take(1000, 10);
    for (const k of ["2", "3", "4"]) q.push(`u:${k}`, k.repeat(20));
    expect(q.payloadSize).toBe(4);
    q.push("u:5", "5".repeat(20));
    expect(q.payloadSize).toBe(4);
    expect(q.dropped).toBe(1);
    const out = q.take(1000, 10);
    expect(out).toContain("A".repeat(20));
    expect(out).not.toContain("1".repeat(20));
    expect(out).toContain("5".repeat(20));
  });

  test("a full queue evicts payloads before membership messages", () => {
    const q = new TransmitQueue(3, 3);
    q.push("m:a", "A".repeat(20));
    q.push("m:b", "B".repeat(20));
    q.push("u:1", "1".repeat(20));
    q.push("m:c", "C".repeat(20));
    expect(q.size).toBe(3);
    expect(q.payloadSize).toBe(0);
    expect(q.take(1000, 5).sort()).toEqual(["A", "B", "C"].map((x) => x.repeat(20)));
  });

  test("payloads fill at most their share of a packet; membership items may use the rest", () => {
    const q = new TransmitQueue(100, 50, 100);
    for (let i = 0; i < 10; i++) q.push(`u:${i}`, String(i).repeat(30));
    q.push("m:a", "A".repeat(200));
    const out = q.take(1000, 5);
    expect(out[0]).toBe("A".repeat(200));
    expect(out.slice(1).join("").length).toBeLessThanOrEqual(100);
    expect(out.length).toBe(1 + 3);
  });

  test("one payload larger than the per-packet share still goes out when the packet has room", () => {
    const q = new TransmitQueue(100, 50, 100);
    q.push("u:keyring", "K".repeat(500));
    expect(q.take(1000, 5)).toEqual(["K".repeat(500)]);
    expect(q.take(400, 5)).toEqual([]);
  });

  test("a key moved to the other lane is not kept twice", () => {
    const q = new TransmitQueue(10);
    q.push("k", "old", "payload");
    q.push("k", "new", "member");
    expect(q.size).toBe(1);
    expect(q.take(100, 2)).toEqual(["new"]);
  });
});
