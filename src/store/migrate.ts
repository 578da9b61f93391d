/**
 * Live migration: this host becomes the home of an instance that ran on another host of the
 * cluster. In one transaction it writes, under its own name and a newer version, every per-host
 * row of the instance: the instance (host), its VIFs (host), their leases (so this host renews
 * and expires them), and its floating IPs (host, so this host claims their serving slot). The
 * cluster carries the rows; the old host, on applying them, finds the instance gone from its
 * view and withdraws its port, rules, DHCP entry, metadata and floating address.
 *
 * Why this cannot duplicate or orphan: the rows change together here (a crash before the commit
 * leaves the old home whole), and every node keeps the newest version of each row, so all nodes
 * settle on the same home whichever host dies or whatever order the rows arrive in.
 */
import type { Instance } from "../model.ts";
import { conflict, invalid } from "../util/errors.ts";
import type { Store } from "./db.ts";
import { getInstance, listVifs } from "./instances.ts";
import { plugPort, type PortBinding } from "./ports.ts";

export interface MoveParams {
  /** The host the instance moves to: must be this host (the new home writes the rows). */
  toHost: string;
  /** The new host-side port to declare at once (a tap that exists already), with the VIF's MAC when several. */
  port?: string | null;
  mac?: string | null;
  /** Instance user data to keep serving here (it stays on the host that received it, see replica-tables.ts). */
  userData?: Uint8Array | null;
}

export interface MoveResult {
  instance: Instance;
  /** The host the instance lived on before; equal to this host when it was already here. */
  from: string;
  moved: boolean;
  /** Floating IPs that now belong to this host. */
  floating: string[];
  /** Leases taken over, by MAC. */
  leases: string[];
  plugged: PortBinding | null;
}

const HOSTNAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** Refuse a target that is not this host, with the reason in one line. */
function checkTarget(store: Store, toHost: string, members: ((id: string) => string | null) | null): void {
  if (!HOSTNAME_RE.test(toHost))
    throw invalid(`--to-host ${JSON.stringify(toHost)} is not a host name (letters, digits, '.', '_', '-')`, "to_host");
  if (toHost === store.nodeId) return;
  const state = members?.(toHost) ?? null;
  if (state === null || state === "dead" || state === "left")
    throw invalid(`--to-host ${toHost} is not a live member of the cluster`, "to_host");
  throw conflict(
    `--to-host ${toHost}: this agent is ${store.nodeId}; the new home takes the instance, so run the migration on ${toHost}'s agent`,
    "to_host",
  );
}

/**
 * Make this host the instance's home. `memberState` answers a host's membership state (null when
 * unknown); null itself means the node runs standalone, where there is no other host to move from.
 */
export function takeHome(
  store: Store,
  ref: string,
  p: MoveParams,
  memberState: ((id: string) => string | null) | null,
): MoveResult {
  return store.write(() => {
    checkTarget(store, p.toHost, memberState);
    const inst = getInstance(store, ref);
    if (p.userData && p.userData.length > 65535)
      throw invalid(`user data is ${p.userData.length} bytes; at most 65535 are allowed`, "user_data");
    if (inst.host === store.nodeId) {
      const plugged = p.port ? plugPort(store, inst.uuid, { port: p.port, mac: p.mac }) : null;
      return { instance: inst, from: inst.host, moved: false, floating: [], leases: [], plugged };
    }
    if (!memberState)
      throw conflict(
        `instance ${inst.name} lives on ${inst.host} but this node runs standalone: live migration moves instances between hosts of a cluster`,
        "instance",
      );
    const vifs = listVifs(store, { instanceUuid: inst.uuid });
    const v = store.version();
    const keyData = inst.keyData ?? keypairKey(store, inst.keyName);
    store.db
      .query(
        "UPDATE instances SET host = ?, key_data = ?, user_data = coalesce(?, user_data), origin = ?, hlc = ? WHERE uuid = ?",
      )
      .run(store.nodeId, keyData, p.userData ?? null, v.origin, v.hlc, inst.uuid);
    const leases: string[] = [];
    for (const vif of vifs) {
      store.db
        .query("UPDATE vifs SET host = ?, origin = ?, hlc = ? WHERE id = ?")
        .run(store.nodeId, v.origin, v.hlc, vif.id);
      // A port name declared here during an earlier stay means nothing now.
      store.db.query("DELETE FROM vif_ports WHERE vif_id = ?").run(vif.id);
      if (vif.address)
        store.db
          .query(
            "UPDATE fixed_ips SET instance_uuid = ?, vif_id = ?, allocated = 1 WHERE network_id = ? AND address = ?",
          )
          .run(inst.uuid, vif.id, vif.networkId, vif.address);
      // The guest keeps its lease: renewals, expiry and release are this host's from now on.
      const moved = store.db
        .query("UPDATE leases SET origin = ?, hlc = ? WHERE network_id = ? AND mac = ? AND deleted = 0")
        .run(v.origin, v.hlc, vif.networkId, vif.mac).changes;
      if (moved) {
        leases.push(vif.mac);
        store.changed("lease", "put", `${vif.networkId}/${vif.mac}`);
      }
      store.changed("vif", "put", vif.id);
    }
    const floating = store.db
      .query<{ address: string }, [string]>(
        "SELECT address FROM floating_ips WHERE instance_uuid = ? AND deleted = 0 ORDER BY address_num",
      )
      .all(inst.uuid)
      .map((r) => r.address);
    for (const a of floating) {
      store.db
        .query("UPDATE floating_ips SET host = ?, origin = ?, hlc = ? WHERE address = ?")
        .run(store.nodeId, v.origin, v.hlc, a);
      store.changed("floating_ip", "put", a);
    }
    store.changed("instance", "put", inst.uuid);
    const plugged = p.port ? plugPort(store, inst.uuid, { port: p.port, mac: p.mac }) : null;
    return { instance: getInstance(store, inst.uuid), from: inst.host, moved: true, floating, leases, plugged };
  });
}

/** The public key of a named keypair: key text stays on the instance's host, the keypair travels. */
function keypairKey(store: Store, name: string | null): string | null {
  if (!name) return null;
  return (
    store.db
      .query<{ public_key: string }, [string]>("SELECT public_key FROM keypairs WHERE name = ? AND deleted = 0")
      .get(name)?.public_key ?? null
  );
}
