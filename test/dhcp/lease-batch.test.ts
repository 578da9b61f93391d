import { describe, expect, test } from "bun:test";
import { BatchedLeaseStore } from "../../src/dhcp/lease-batch.ts";
import { MemoryLeaseStore, type LeaseOp, type LeaseRecord } from "../../src/dhcp/leases.ts";

const lease = (mac: string, state: LeaseRecord["state"] = "leased"): LeaseRecord => ({
  networkId: "n",
  mac,
  address: "10.0.0.1",
  hostname: null,
  clientId: null,
  state,
  expiresAt: 10,
  updatedAt: 1,
});

class CountingStore extends MemoryLeaseStore {
  batches: LeaseOp[][] = [];
  override apply(ops: readonly LeaseOp[]): void {
    this.batches.push([...ops]);
    super.apply(ops);
  }
}

describe("BatchedLeaseStore", () => {
  test("writes wait for the scheduled flush, reads see them at once, one batch per turn", () => {
    const inner = new CountingStore();
    const queued: (() => void)[] = [];
    const b = new BatchedLeaseStore(inner, { schedule: (fn) => queued.push(fn) });
    b.apply([{ op: "put", lease: lease("a") }]);
    b.apply([
      { op: "put", lease: lease("b") },
      { op: "put", lease: lease("a", "released") },
    ]);
    expect(inner.get("n", "a")).toBeNull();
    expect(b.get("n", "a")?.state).toBe("released");
    expect(queued).toHaveLength(1);
    queued[0]();
    expect(inner.batches).toHaveLength(1);
    expect(inner.batches[0].map((o) => (o.op === "put" ? `${o.lease.mac}:${o.lease.state}` : o.mac))).toEqual([
      "b:leased",
      "a:released",
    ]);
    expect(inner.get("n", "a")?.state).toBe("released");
  });

  test("a pending delete hides the stored row", () => {
    const inner = new MemoryLeaseStore();
    inner.put(lease("a"));
    const b = new BatchedLeaseStore(inner, { schedule: () => {} });
    b.delete("n", "a");
    expect(b.get("n", "a")).toBeNull();
    expect(b.list()).toEqual([]);
  });

  test("maxPending bounds the queue by flushing synchronously", () => {
    const inner = new CountingStore();
    const b = new BatchedLeaseStore(inner, { maxPending: 3, schedule: () => {} });
    for (const m of ["a", "b", "c", "d"]) b.put(lease(m));
    expect(inner.batches.map((x) => x.length)).toEqual([3]);
    expect(b.pending).toBe(1);
  });

  test("a failing store reports the error and drops the batch instead of throwing", () => {
    const inner = new MemoryLeaseStore();
    inner.apply = () => {
      throw new Error("disk I/O error");
    };
    const errors: unknown[] = [];
    const b = new BatchedLeaseStore(inner, { schedule: () => {}, onError: (e) => errors.push(e) });
    b.put(lease("a"));
    expect(() => b.flush()).not.toThrow();
    expect(errors).toHaveLength(1);
    expect(b.pending).toBe(0);
  });
});
