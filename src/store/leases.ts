/** DHCP leases, persisted per (network, MAC). One row per client; `state` follows nova's `leased`. */
import { type Lease, type LeaseState, leaseKey } from "../model.ts";
import type { Store } from "./db.ts";

type Row = Record<string, unknown>;

export function leaseFromRow(r: Row): Lease {
  return {
    networkId: r.network_id as string,
    mac: r.mac as string,
    address: r.address as string,
    hostname: r.hostname as string | null,
    clientId: r.client_id as string | null,
    state: r.state as LeaseState,
    expiresAt: r.expires_at as number,
    updatedAt: r.updated_at as number,
    origin: r.origin as string,
    hlc: r.hlc as string,
    deleted: !!r.deleted,
  };
}

export function listLeases(store: Store, networkId?: string): Lease[] {
  const rows = networkId
    ? store.db
        .query<Row, [string]>("SELECT * FROM leases WHERE deleted = 0 AND network_id = ? ORDER BY address")
        .all(networkId)
    : store.db.query<Row, []>("SELECT * FROM leases WHERE deleted = 0 ORDER BY network_id, address").all();
  return rows.map(leaseFromRow);
}

export function getLease(store: Store, networkId: string, mac: string): Lease | null {
  const r = store.db
    .query<Row, [string, string]>("SELECT * FROM leases WHERE deleted = 0 AND network_id = ? AND mac = ?")
    .get(networkId, mac);
  return r ? leaseFromRow(r) : null;
}

/** Insert or update a lease and keep fixed_ips.leased in step (nova's lease callback). */
export function putLease(store: Store, l: Omit<Lease, "origin" | "hlc" | "deleted">): void {
  store.write(() => {
    const v = store.version();
    store.db
      .query(`INSERT INTO leases (network_id, mac, address, hostname, client_id, state, expires_at, updated_at, origin, hlc, deleted)
      VALUES (?,?,?,?,?,?,?,?,?,?,0) ON CONFLICT(network_id, mac) DO UPDATE SET address = excluded.address, hostname = excluded.hostname,
      client_id = excluded.client_id, state = excluded.state, expires_at = excluded.expires_at, updated_at = excluded.updated_at,
      origin = excluded.origin, hlc = excluded.hlc, deleted = 0`)
      .run(l.networkId, l.mac, l.address, l.hostname, l.clientId, l.state, l.expiresAt, l.updatedAt, v.origin, v.hlc);
    store.db
      .query("UPDATE fixed_ips SET leased = ? WHERE network_id = ? AND address = ?")
      .run(l.state === "leased" ? 1 : 0, l.networkId, l.address);
    store.changed("lease", "put", leaseKey(l.networkId, l.mac));
  });
}

export function deleteLease(store: Store, networkId: string, mac: string): void {
  store.write(() => {
    const old = getLease(store, networkId, mac);
    if (!old) return;
    const v = store.version();
    store.db
      .query("UPDATE leases SET deleted = 1, state = 'released', origin = ?, hlc = ? WHERE network_id = ? AND mac = ?")
      .run(v.origin, v.hlc, networkId, mac);
    store.db.query("UPDATE fixed_ips SET leased = 0 WHERE network_id = ? AND address = ?").run(networkId, old.address);
    store.changed("lease", "delete", leaseKey(networkId, mac));
  });
}
