/**
 * Reading instances and their VIFs: row mappers and lookups, used by instances.ts (boot,
 * delete) and by floating.ts (association) without either importing the other.
 */
import type { Instance, Vif } from "../model.ts";
import type { Store } from "./db.ts";
import { notFound } from "../util/errors.ts";

type Row = Record<string, unknown>;

export function instanceFromRow(r: Row): Instance {
  return {
    uuid: r.uuid as string,
    name: r.name as string,
    hostname: r.hostname as string,
    host: r.host as string,
    projectId: r.project_id as string,
    userId: r.user_id as string,
    keyName: r.key_name as string | null,
    keyData: r.key_data as string | null,
    userData: r.user_data ? new Uint8Array(r.user_data as Uint8Array) : null,
    meta: JSON.parse(r.meta as string),
    launchIndex: r.launch_index as number,
    availabilityZone: r.availability_zone as string,
    flavor: r.flavor as string,
    securityGroups: JSON.parse(r.security_groups as string),
    reservationId: r.reservation_id as string,
    password: r.password as string | null,
    createdAt: r.created_at as number,
    origin: r.origin as string,
    hlc: r.hlc as string,
    deleted: !!r.deleted,
  };
}

export function vifFromRow(r: Row): Vif {
  return {
    id: r.id as string,
    mac: r.mac as string,
    instanceUuid: r.instance_uuid as string,
    networkId: r.network_id as string,
    address: r.address as string | null,
    addressV6: r.address_v6 as string | null,
    host: r.host as string,
    index: r.idx as number,
    origin: r.origin as string,
    hlc: r.hlc as string,
    deleted: !!r.deleted,
  };
}

export function listInstances(store: Store, opts: { host?: string } = {}): Instance[] {
  const rows = opts.host
    ? store.db
        .query<Row, [string]>("SELECT * FROM instances WHERE deleted = 0 AND host = ? ORDER BY created_at")
        .all(opts.host)
    : store.db.query<Row, []>("SELECT * FROM instances WHERE deleted = 0 ORDER BY created_at").all();
  return rows.map(instanceFromRow);
}

export function getInstance(store: Store, ref: string, field = "instance"): Instance {
  // Two lookups rather than "uuid = ? OR name = ?", which SQLite answers with a table scan.
  const r =
    store.db.query<Row, [string]>("SELECT * FROM instances WHERE deleted = 0 AND uuid = ?").get(ref) ??
    store.db.query<Row, [string]>("SELECT * FROM instances WHERE deleted = 0 AND name = ?").get(ref);
  if (!r) throw notFound(`instance ${ref}`, field);
  return instanceFromRow(r);
}

export function listVifs(store: Store, opts: { instanceUuid?: string; host?: string } = {}): Vif[] {
  if (opts.instanceUuid)
    return store.db
      .query<Row, [string]>("SELECT * FROM vifs WHERE deleted = 0 AND instance_uuid = ? ORDER BY idx")
      .all(opts.instanceUuid)
      .map(vifFromRow);
  if (opts.host)
    return store.db
      .query<Row, [string]>("SELECT * FROM vifs WHERE deleted = 0 AND host = ? ORDER BY instance_uuid, idx")
      .all(opts.host)
      .map(vifFromRow);
  return store.db
    .query<Row, []>("SELECT * FROM vifs WHERE deleted = 0 ORDER BY instance_uuid, idx")
    .all()
    .map(vifFromRow);
}

/** The instance a VIF belongs to (null when the VIF is gone). */
export function instanceOfVif(store: Store, vifId: string): string | null {
  return (
    store.db.query<{ u: string }, [string]>("SELECT instance_uuid AS u FROM vifs WHERE id = ?").get(vifId)?.u ?? null
  );
}
