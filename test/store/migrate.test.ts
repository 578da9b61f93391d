/**
 * Live migration in the store and through the cluster's row intake: the new home rewrites the
 * instance's per-host rows under its own name; every node, whatever it received and whoever died
 * on the way, ends with exactly one home for the instance.
 */
import { describe, expect, test } from "bun:test";
import { Store } from "../../src/store/db.ts";
import { SqliteReplicaStore } from "../../src/store/replica.ts";
import { RowIntake } from "../../src/cluster/sync/ingest.ts";
import { newSyncStats } from "../../src/cluster/sync/config.ts";
import type { ReplicaRow } from "../../src/replication/replica-store.ts";
import { createNetworks } from "../../src/store/networks.ts";
import { bootInstance, deleteInstance, getInstance, listVifs } from "../../src/store/instances.ts";
import { addKeypair } from "../../src/store/keypairs.ts";
import { allocateFloatingIp, associateFloatingIp, createFloatingRange } from "../../src/store/floating.ts";
import { getLease, putLease } from "../../src/store/leases.ts";
import { plugPort, portsByVif } from "../../src/store/ports.ts";
import { takeHome } from "../../src/store/migrate.ts";
import { readHostView } from "../../src/reconcile/host-view.ts";
import { parseConfig } from "../../src/config/load.ts";
import { rowsSince } from "../replication/rows.ts";
import { bootParams, netParams, snapshot } from "./fixtures.ts";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl demo@host";

interface Node {
  id: string;
  store: Store;
  replica: SqliteReplicaStore;
  intake: RowIntake;
}

/** One physical clock for every node (hosts run NTP): what happens later is stamped later. */
let t = 1_700_000_000_000;
const now = () => (t += 1);

function node(id: string): Node {
  const store = new Store(":memory:", { nodeId: id, now });
  const replica = new SqliteReplicaStore(store);
  return { id, store, replica, intake: new RowIntake(replica, store.clock, newSyncStats(), []) };
}

/** Every current row `from` holds, offered to `to` through the same intake gossip uses. */
function sync(from: Node, to: Node, filter: (r: ReplicaRow) => boolean = () => true): void {
  for (const [origin] of from.replica.heads())
    for (const row of rowsSince(from.replica, origin, "", 100_000)) if (filter(row)) to.intake.ingest(row, from.id);
}

const members = (alive: string[]) => (id: string) => (alive.includes(id) ? "alive" : null);

/** A cluster of three where A hosts vm1 (plugged, leased, with a floating IP), replicated to B and C. */
function cluster() {
  const [a, b, c] = ["ha", "hb", "hc"].map(node);
  createNetworks(a.store, netParams());
  addKeypair(a.store, "k", KEY);
  const inst = bootInstance(a.store, bootParams({ keyName: "k", userData: new TextEncoder().encode("#!/bin/sh\n") }));
  const vif = listVifs(a.store)[0];
  plugPort(a.store, inst.uuid, { port: "tap-a" });
  putLease(a.store, {
    networkId: vif.networkId,
    mac: vif.mac,
    address: vif.address!,
    hostname: "vm1",
    clientId: null,
    state: "leased",
    expiresAt: 1_700_000_900_000,
    updatedAt: 1_700_000_000_000,
  });
  createFloatingRange(a.store, "nova", "203.0.113.0/30", "eth0");
  const fip = allocateFloatingIp(a.store, "nova", "admin");
  associateFloatingIp(a.store, inst.uuid, fip.address);
  for (const n of [b, c]) sync(a, n);
  return { a, b, c, uuid: inst.uuid, vif, fip: fip.address };
}

const { config } = parseConfig("");
/** Hosts that consider themselves the instance's home (serve it) by their own store. */
function homes(nodes: Node[], uuid: string): string[] {
  return nodes
    .filter((n) => readHostView(n.store, config).local.some((l) => l.instance.uuid === uuid))
    .map((n) => n.id);
}
const hostOf = (n: Node, uuid: string) => getInstance(n.store, uuid).host;

describe("live migration: the home moves through the cluster", () => {
  test("B takes the instance: instance, VIF, lease and floating IP rows are B's; A and C follow and A withdraws its port", () => {
    const { a, b, c, uuid, vif, fip } = cluster();
    const r = takeHome(b.store, uuid, { toHost: "hb", port: "tap-b" }, members(["ha", "hb", "hc"]));
    expect([r.moved, r.from, r.floating, r.leases]).toEqual([true, "ha", [fip], [vif.mac]]);
    // The key text travels as its keypair; the new port is declared at once.
    expect(getInstance(b.store, uuid).keyData).toBe(KEY);
    expect([...portsByVif(b.store).values()]).toEqual(["tap-b"]);
    for (const row of [
      b.replica.get("instance", uuid),
      b.replica.get("vif", vif.id),
      b.replica.get("lease", `${vif.networkId}/${vif.mac}`),
      b.replica.get("floating_ip", fip),
    ])
      expect(row?.origin).toBe("hb");
    for (const n of [a, c]) sync(b, n);
    for (const n of [a, b, c]) {
      expect(hostOf(n, uuid)).toBe("hb");
      expect(listVifs(n.store)[0].host).toBe("hb");
      expect(getLease(n.store, vif.networkId, vif.mac)?.origin).toBe("hb");
      expect(n.store.db.query("SELECT host FROM floating_ips WHERE address = ?").get(fip)).toEqual({ host: "hb" });
    }
    // The old home's port and address bookkeeping went with the move.
    expect(portsByVif(a.store).size).toBe(0);
    expect(a.store.db.query("SELECT count(*) AS n FROM fixed_ips WHERE vif_id = ?").get(vif.id)).toEqual({ n: 0 });
    expect(b.store.db.query("SELECT count(*) AS n FROM fixed_ips WHERE vif_id = ?").get(vif.id)).toEqual({ n: 1 });
    expect(homes([a, b, c], uuid)).toEqual(["hb"]);
  });

  test("deleted on the new home before its moved VIF reached the old home: the old home's address marks still go", () => {
    const { a, b, uuid, vif } = cluster();
    takeHome(b.store, uuid, { toHost: "hb" }, members(["ha", "hb", "hc"]));
    deleteInstance(b.store, uuid);
    // Only the tombstones reach A (newer than the moved rows, which A never saw).
    sync(b, a, (r) => r.deleted);
    expect(a.store.db.query("SELECT count(*) AS n FROM fixed_ips WHERE vif_id = ?").get(vif.id)).toEqual({ n: 0 });
    expect(portsByVif(a.store).size).toBe(0);
  });

  test("invalid requests are refused with one line and change nothing", () => {
    const { b, uuid } = cluster();
    const before = snapshot(b.store);
    const alive = members(["ha", "hb", "hc"]);
    const refuse = (ref: string, toHost: string, m: ((id: string) => string | null) | null = alive, port?: string) => {
      try {
        takeHome(b.store, ref, { toHost, port }, m);
      } catch (err) {
        return (err as Error).message;
      }
      return "accepted";
    };
    expect(refuse("nope", "hb")).toBe("instance nope not found");
    expect(refuse(uuid, "hz")).toBe("--to-host hz is not a live member of the cluster");
    expect(refuse(uuid, "bad host!")).toBe(`--to-host "bad host!" is not a host name (letters, digits, '.', '_', '-')`);
    expect(refuse(uuid, "hc")).toBe(
      "--to-host hc: this agent is hb; the new home takes the instance, so run the migration on hc's agent",
    );
    expect(refuse(uuid, "hc", members(["ha", "hb"]))).toBe("--to-host hc is not a live member of the cluster");
    expect(refuse(uuid, "hb", null)).toBe(
      "instance vm1 lives on ha but this node runs standalone: live migration moves instances between hosts of a cluster",
    );
    expect(refuse(uuid, "hb", alive, "bad/port")).toContain("port");
    expect(snapshot(b.store)).toBe(before);
  });

  test("an instance already at home is not moved again (a repeated hook call is harmless)", () => {
    const { a, uuid } = cluster();
    const before = snapshot(a.store);
    const r = takeHome(a.store, uuid, { toHost: "ha" }, members(["ha"]));
    expect([r.moved, r.from]).toEqual([false, "ha"]);
    expect(snapshot(a.store)).toBe(before);
  });

  test("B dies mid-way: before its rows leave, A stays the one home; with only part of them out, still one home; once B is back, B", () => {
    const { a, b, c, uuid } = cluster();
    takeHome(b.store, uuid, { toHost: "hb" }, members(["ha", "hb", "hc"]));
    // Nothing reached anyone: A and C still say A, B (dead) says B — A is the only live home.
    expect(homes([a, c], uuid)).toEqual(["ha"]);
    // Only the instance row reached A before B died: A no longer serves it, nobody serves twice.
    sync(b, a, (r) => r.table === "instance");
    expect(homes([a, c], uuid)).toEqual([]);
    expect(homes([a, b, c], uuid)).toEqual(["hb"]);
    // B comes back and its rows reach everyone: one home, B, on every node.
    for (const n of [a, c]) sync(b, n);
    for (const n of [a, b, c]) expect(hostOf(n, uuid)).toBe("hb");
    expect(homes([a, b, c], uuid)).toEqual(["hb"]);
  });

  test("A dies mid-way: B and C move on without it; A comes back with its old rows and withdraws", () => {
    const { a, b, c, uuid, vif } = cluster();
    // A renewed the lease just before it died; C saw it, B did not.
    putLease(a.store, { ...getLease(a.store, vif.networkId, vif.mac)!, updatedAt: 1_700_000_000_500 });
    sync(a, c);
    takeHome(b.store, uuid, { toHost: "hb" }, members(["hb", "hc"]));
    sync(b, c);
    expect(homes([b, c], uuid)).toEqual(["hb"]);
    // A restarts from its state directory: it still thinks it is home until it hears from B.
    expect(homes([a], uuid)).toEqual(["ha"]);
    // Its old rows (the lease renewal included) take nothing back from B anywhere.
    sync(a, b);
    sync(a, c);
    expect(homes([b, c], uuid)).toEqual(["hb"]);
    sync(b, a);
    for (const n of [a, b, c]) {
      expect(hostOf(n, uuid)).toBe("hb");
      expect(getLease(n.store, vif.networkId, vif.mac)?.origin).toBe("hb");
    }
    expect(homes([a, b, c], uuid)).toEqual(["hb"]);
    expect(portsByVif(a.store).size).toBe(0);
  });

  test("a host cannot move an instance to a third host: rows naming another owner are quarantined", () => {
    const { a, b, uuid } = cluster();
    const row = b.replica.get("instance", uuid)!;
    const forged = { ...row, origin: "hb", hlc: b.store.clock.tick(), data: { ...row.data, host: "hc" } };
    expect(a.intake.ingest(forged, "hb")[0]).toBe("invalid");
    expect(hostOf(a, uuid)).toBe("ha");
  });
});
