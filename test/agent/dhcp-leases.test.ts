import { describe, expect, test } from "bun:test";
import { storeLeaseStore } from "../../src/agent/dhcp-leases.ts";
import { Store } from "../../src/store/db.ts";
import type { ChangeEvent } from "../../src/model.ts";

describe("LeaseStore over the SQLite store", () => {
  test("apply writes in one transaction and raises lease change events after commit", () => {
    const store = new Store(":memory:", { nodeId: "node-a", now: () => 1_000 });
    const seen: ChangeEvent[] = [];
    store.subscribe((evs) => seen.push(...evs));
    const leases = storeLeaseStore(store);
    const base = {
      networkId: "n1",
      address: "10.0.0.5",
      hostname: "vm",
      clientId: null,
      expiresAt: 5_000,
      updatedAt: 1_000,
    };
    leases.apply([
      { op: "put", lease: { ...base, mac: "02:00:00:00:00:01", state: "leased" } },
      { op: "put", lease: { ...base, mac: "02:00:00:00:00:02", address: "10.0.0.6", state: "leased" } },
    ]);
    expect(leases.get("n1", "02:00:00:00:00:01")).toEqual({ ...base, mac: "02:00:00:00:00:01", state: "leased" });
    expect(leases.list("n1").map((l) => l.mac)).toEqual(["02:00:00:00:00:01", "02:00:00:00:00:02"]);
    expect(seen.filter((e) => e.entity === "lease")).toHaveLength(2);
    leases.apply([{ op: "delete", networkId: "n1", mac: "02:00:00:00:00:02" }]);
    expect(leases.get("n1", "02:00:00:00:00:02")).toBeNull();
    expect(() =>
      leases.apply([
        { op: "put", lease: { ...base, mac: "x", state: "bogus" as never } },
        { op: "put", lease: null as never },
      ]),
    ).toThrow();
    // The failed batch left nothing behind.
    expect(leases.get("n1", "x")).toBeNull();
    store.close();
  });
});
