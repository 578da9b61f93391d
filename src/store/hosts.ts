/** Hosts of the cluster (this node registers itself at start-up). */
import type { Host } from "../model.ts";
import type { Store } from "./db.ts";

type Row = Record<string, unknown>;

export function hostFromRow(r: Row): Host {
  return {
    id: r.id as string,
    hostname: r.hostname as string,
    address: r.address as string,
    generation: r.generation as number,
    origin: r.origin as string,
    hlc: r.hlc as string,
    deleted: !!r.deleted,
  };
}

export function listHosts(store: Store): Host[] {
  return store.db.query<Row, []>("SELECT * FROM hosts WHERE deleted = 0 ORDER BY id").all().map(hostFromRow);
}

/** Register (or refresh) this node; the generation grows on every start with a fresh store. */
export function registerHost(store: Store, hostname: string, address: string): Host {
  return store.write(() => {
    const old = store.db.query<Row, [string]>("SELECT * FROM hosts WHERE id = ?").get(store.nodeId);
    const generation = old ? (old.generation as number) : 1;
    if (old && old.address === address && old.hostname === hostname && !old.deleted) return hostFromRow(old);
    const v = store.version();
    store.db
      .query(`INSERT INTO hosts (id, hostname, address, generation, origin, hlc, deleted) VALUES (?,?,?,?,?,?,0)
      ON CONFLICT(id) DO UPDATE SET hostname = excluded.hostname, address = excluded.address, origin = excluded.origin, hlc = excluded.hlc, deleted = 0`)
      .run(store.nodeId, hostname, address, generation, v.origin, v.hlc);
    store.changed("host", "put", store.nodeId);
    return hostFromRow(store.db.query<Row, [string]>("SELECT * FROM hosts WHERE id = ?").get(store.nodeId)!);
  });
}
