import { describe, expect, test } from "bun:test";
import type { ChangeEvent } from "../../src/model.ts";
import { SqliteReplicaStore, SqlitePromiseStore } from "../../src/store/replica.ts";
import { validateRow } from "../../src/cluster/sync/schema.ts";
import { createNetworks, listNetworks } from "../../src/store/networks.ts";
import { bootInstance, deleteInstance, listInstances, listVifs } from "../../src/store/instances.ts";
import { addKeypair } from "../../src/store/keypairs.ts";
import { addRule } from "../../src/store/secgroups.ts";
import { allocateFloatingIp, createFloatingRange } from "../../src/store/floating.ts";
import { putLease } from "../../src/store/leases.ts";
import { listFixedIps } from "../../src/store/fixed-ips.ts";
import { bootParams, memStore, netParams } from "./fixtures.ts";
import { rowsSince } from "../replication/rows.ts";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl demo@host";

/** Everything `from` holds, pulled by `to` the way state sync does: per origin, after its mark. */
function replicate(from: SqliteReplicaStore, to: SqliteReplicaStore): number {
  let n = 0;
  for (const [origin] of from.heads()) for (const row of rowsSince(from, origin, "", 100_000)) if (to.apply(row)) n++;
  return n;
}

function populated() {
  const store = memStore("node-a");
  createNetworks(store, netParams({ cidrV6: "fd00:3::/64" }));
  addKeypair(store, "k", KEY);
  bootInstance(
    store,
    bootParams({ keyName: "k", userData: new TextEncoder().encode("#!/bin/sh\n"), meta: { a: "b" } }),
  );
  addRule(store, "default", "admin", {
    direction: "ingress",
    protocol: "icmp",
    fromPort: -1,
    toPort: -1,
    cidr: "0.0.0.0/0",
    sourceGroup: null,
  });
  createFloatingRange(store, "nova", "203.0.113.0/30", "eth0");
  allocateFloatingIp(store, "nova", "admin");
  const vif = listVifs(store)[0];
  putLease(store, {
    networkId: vif.networkId,
    mac: vif.mac,
    address: vif.address!,
    hostname: "vm1",
    clientId: null,
    state: "leased",
    expiresAt: 5,
    updatedAt: 4,
  });
  return { store, replica: new SqliteReplicaStore(store) };
}

describe("SQLite replica store", () => {
  test("every row it exports passes the cluster's validation (wire shapes match the tables)", () => {
    const { replica } = populated();
    const tables = new Set<string>();
    for (const [origin] of replica.heads()) {
      for (const row of rowsSince(replica, origin, "", 1000)) {
        const v = validateRow(JSON.parse(JSON.stringify(row)));
        expect(v.ok ? "ok" : `${row.table}: ${v.reason}`).toBe("ok");
        tables.add(row.table);
      }
    }
    expect([...tables].sort()).toEqual(
      [
        "floating_ip",
        "host",
        "instance",
        "keypair",
        "lease",
        "network",
        "security_group",
        "security_group_rule",
        "vif",
      ].filter((t) => t !== "host"),
    );
  });

  test("instance rows travel without user data, key text and password, and fit one datagram", () => {
    const { store, replica } = populated();
    const inst = listInstances(store)[0];
    const row = replica.get("instance", inst.uuid)!;
    expect(row.data).toMatchObject({
      uuid: inst.uuid,
      name: "vm1",
      keyName: "k",
      userData: null,
      keyData: null,
      password: null,
    });
    expect(JSON.stringify(row).length).toBeLessThan(1000);
    // The host keeps them locally.
    expect(inst.userData?.length).toBe(10);
    expect(inst.keyData).toContain("ssh-ed25519");
  });

  test("a peer applying every row ends with the same records, fixed IPs derived, and remote change events", () => {
    const a = populated();
    const b = memStore("node-b");
    const bReplica = new SqliteReplicaStore(b);
    const events: ChangeEvent[] = [];
    b.subscribe((e) => events.push(...e));
    expect(replicate(a.replica, bReplica)).toBeGreaterThan(5);
    expect(listNetworks(b)).toEqual(listNetworks(a.store));
    const hostOnly = <T extends { userData: unknown; keyData: unknown; password: unknown }>(i: T): T => ({
      ...i,
      userData: null,
      keyData: null,
      password: null,
    });
    expect(listInstances(b)).toEqual(listInstances(a.store).map(hostOnly));
    expect(listVifs(b)).toEqual(listVifs(a.store));
    expect(
      listFixedIps(b)
        .filter((f) => f.reserved)
        .map((f) => f.address),
    ).toEqual(["10.0.0.0", "10.0.0.1", "10.0.0.255"]);
    expect(bReplica.heads()).toEqual(a.replica.heads());
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.remote)).toBe(true);
    // Applying the same rows again changes nothing.
    expect(replicate(a.replica, bReplica)).toBe(0);
  });

  test("last writer wins by HLC; tombstones propagate and are collected", () => {
    const a = populated();
    const b = memStore("node-b");
    const bReplica = new SqliteReplicaStore(b);
    replicate(a.replica, bReplica);
    const inst = listInstances(a.store)[0];
    const older = a.replica.get("instance", inst.uuid)!;
    deleteInstance(a.store, inst.uuid);
    replicate(a.replica, bReplica);
    expect(listInstances(b)).toEqual([]);
    expect(bReplica.apply(older)).toBe(false);
    expect(listInstances(b)).toEqual([]);
    expect(bReplica.collectTombstones("999999999999999.99999")).toBeGreaterThan(0);
    expect(bReplica.get("instance", inst.uuid)).toBeUndefined();
  });

  test("before(): the newest row of an origin below a version, across every table", () => {
    const { store, replica } = populated();
    const own = rowsSince(replica, store.nodeId, "", 1000);
    expect(own.length).toBeGreaterThan(5);
    for (const [i, row] of own.entries())
      expect(replica.before(store.nodeId, row.hlc)).toBe(i === 0 ? "" : own[i - 1].hlc);
    expect(replica.before("another-node", own.at(-1)!.hlc)).toBe("");
  });

  test("scanPrefix reads one key range; changes() moves with every write of its table only", () => {
    const r = new SqliteReplicaStore(memStore("node-e"));
    const alloc = (key: string, hlc: string) => ({
      table: "ip_alloc" as const,
      key,
      origin: key.split("/")[0],
      hlc,
      deleted: false,
      data: { address: key.split("/")[2] },
    });
    const slots = r.changes("ipam_slot");
    const allocs = r.changes("ip_alloc");
    r.apply(alloc("h1/net/10.0.0.2", "000000000000001.00000"));
    r.apply(alloc("h1/net/10.0.0.3", "000000000000002.00000"));
    r.apply(alloc("h10/net/10.0.0.4", "000000000000003.00000"));
    r.apply(alloc("h1/other/10.0.0.2", "000000000000004.00000"));
    expect([...r.scanPrefix("ip_alloc", "h1/net/")].map((x) => x.key)).toEqual(["h1/net/10.0.0.2", "h1/net/10.0.0.3"]);
    expect([...r.scanPrefix("ip_alloc", "h1/")].length).toBe(3);
    expect(r.changes("ip_alloc")).toBe(allocs + 4);
    expect(r.changes("ipam_slot")).toBe(slots);
    r.dropOrigin("h10");
    expect(r.changes("ipam_slot")).toBeGreaterThan(slots);
  });

  test("bookkeeping rows and tombstones of unknown rows live in replica_extra; marks persist", () => {
    const s = memStore("node-c");
    const r = new SqliteReplicaStore(s);
    r.put({
      table: "ipam_slot",
      key: "block:n:10.0.0.0/28@1",
      origin: "node-c",
      hlc: "000000000000001.00000",
      deleted: false,
      data: { slot: "block:n:10.0.0.0/28", owner: "node-c", epoch: 1, released: false },
    });
    expect([...r.scan("ipam_slot")].map((x) => x.data?.owner)).toEqual(["node-c"]);
    expect(
      r.apply({
        table: "instance",
        key: "ghost",
        origin: "node-d",
        hlc: "000000000000002.00000",
        deleted: true,
        data: null,
      }),
    ).toBe(true);
    expect(r.get("instance", "ghost")?.deleted).toBe(true);
    expect(r.heads().get("node-d")).toBe("000000000000002.00000");
    r.saveMarks({ "node-d": "000000000000002.00000" });
    expect(new SqliteReplicaStore(s).loadMarks()).toEqual({ "node-d": "000000000000002.00000" });
    expect(r.dropOrigin("node-d")).toBe(1);
  });

  test("IPAM promises persist", () => {
    const s = memStore();
    const p = new SqlitePromiseStore(s);
    expect(p.empty()).toBe(true);
    p.put("block:x", { owner: "a", epoch: 2, released: false });
    expect(new SqlitePromiseStore(s).get("block:x")).toEqual({ owner: "a", epoch: 2, released: false });
    expect(p.empty()).toBe(false);
  });
});
