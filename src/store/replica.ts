/**
 * The cluster's ReplicaStore over SQLite. Typed records live in their own tables (so every
 * reader sees replicated rows exactly like local ones); remote applies run in one store
 * transaction and raise the same change events as local writes, marked `remote`.
 */
import type { ReplicaRow, ReplicaStore, ReplicaTable, RowRef } from "../replication/replica-store.ts";
import type { PromiseStore, SlotPromise } from "../replication/promise-store.ts";
import { newerThan } from "../replication/hlc.ts";
import type { Store } from "./db.ts";
import { TYPED, type TypedTable } from "./replica-tables.ts";
import { materializeFixedIps, networkFromRow } from "./networks.ts";

type Row = Record<string, unknown>;

const VERSION_COLS = "origin, hlc, deleted";

export class SqliteReplicaStore implements ReplicaStore {
  /** heads() is asked for on every digest exchange; recomputed only after a change. */
  #heads: Map<string, string> | null = null;
  /** Writes per table through this store, plus bulk removals (see `changes`). */
  readonly #changes = new Map<string, number>();
  #bulk = 0;

  constructor(readonly store: Store) {
    store.subscribe(() => {
      this.#heads = null;
    });
  }

  get #db() {
    return this.store.db;
  }

  /** Every replicated row's (table, key, origin, hlc) as one SQL source. */
  #union(where: string): string {
    return SOURCES.map((s) => `SELECT ${s.tbl} AS tbl, ${s.key} AS key, ${VERSION_COLS} FROM ${s.from} ${where}`).join(
      " UNION ALL ",
    );
  }

  heads(): Map<string, string> {
    if (this.#heads) return new Map(this.#heads);
    const rows = this.#db
      .query<{ origin: string; h: string }, []>(
        `SELECT origin, max(hlc) AS h FROM (${this.#union("")}) GROUP BY origin`,
      )
      .all();
    this.#heads = new Map(rows.map((r) => [r.origin, r.h]));
    return new Map(this.#heads);
  }

  refsSince(origin: string, after: string, limit: number): RowRef[] {
    // Each table through its (origin, hlc) index, then merged: SQLite does not push the filter
    // into a UNION ALL of the tables, and scanned every replicated row for every repair page.
    const refs = SOURCES.flatMap((s) =>
      this.#db
        .query<{ tbl: string; key: string; hlc: string }, [string, string, number]>(
          `SELECT ${s.tbl} AS tbl, ${s.key} AS key, hlc FROM ${s.from} WHERE origin = ? AND hlc > ? ORDER BY hlc LIMIT ?`,
        )
        .all(origin, after, limit),
    );
    refs.sort((a, b) => (a.hlc < b.hlc ? -1 : a.hlc > b.hlc ? 1 : 0));
    return refs.slice(0, limit).map((r) => ({ table: r.tbl as ReplicaTable, key: r.key, hlc: r.hlc }));
  }

  before(origin: string, hlc: string): string {
    // One indexed max() per table: SQLite does not push the max into a UNION ALL of them, and
    // a local write (every allocation) asks this.
    let max = "";
    for (const s of SOURCES) {
      const h = this.#db
        .query<{ h: string | null }, [string, string]>(
          `SELECT max(hlc) AS h FROM ${s.from} WHERE origin = ? AND hlc < ?`,
        )
        .get(origin, hlc)?.h;
      if (h && h > max) max = h;
    }
    return max;
  }

  get(table: ReplicaTable, key: string): ReplicaRow | undefined {
    const t = TYPED[table];
    if (t) {
      const r = this.#db
        .query<Row, string[]>(`SELECT * FROM ${t.sql} WHERE ${t.where}`)
        .get(...(t.keyArgs(key) as string[]));
      if (r) return typedRow(table, t, r);
    }
    const e = this.#db
      .query<Row, [string, string]>("SELECT * FROM replica_extra WHERE tbl = ? AND key = ?")
      .get(table, key);
    return e ? extraRow(e) : undefined;
  }

  changes(table: ReplicaTable): number {
    return (this.#changes.get(table) ?? 0) + this.#bulk;
  }

  *scanPrefix(table: ReplicaTable, prefix: string): Iterable<ReplicaRow> {
    if (TYPED[table]) {
      for (const r of this.scan(table)) if (r.key.startsWith(prefix)) yield r;
      return;
    }
    // The primary key (tbl, key) serves the range; "\uffff" sorts after any key character.
    for (const e of this.#db
      .query<Row, [string, string, string]>("SELECT * FROM replica_extra WHERE tbl = ? AND key >= ? AND key < ?")
      .all(table, prefix, `${prefix}\uffff`))
      yield extraRow(e);
  }

  *scan(table: ReplicaTable): Iterable<ReplicaRow> {
    const t = TYPED[table];
    if (t) for (const r of this.#db.query<Row, []>(`SELECT * FROM ${t.sql}`).all()) yield typedRow(table, t, r);
    for (const e of this.#db.query<Row, [string]>("SELECT * FROM replica_extra WHERE tbl = ?").all(table))
      yield extraRow(e);
  }

  put(row: ReplicaRow): void {
    // Our own block grants and address ownership: peers act on them as soon as they see them.
    if (DURABLE_TABLES.has(row.table)) this.store.durable(() => this.#write(row));
    else this.store.write(() => this.#write(row), { remote: false });
  }

  apply(row: ReplicaRow): boolean {
    return this.store.write(
      () => {
        const cur = this.get(row.table, row.key);
        if (cur && !newerThan(row, cur)) return false;
        this.#write(row);
        return true;
      },
      { remote: true },
    );
  }

  #write(row: ReplicaRow): void {
    this.#heads = null;
    this.#changes.set(row.table, (this.#changes.get(row.table) ?? 0) + 1);
    const t = TYPED[row.table];
    if (!t) {
      this.#db
        .query(`INSERT OR REPLACE INTO replica_extra (tbl, key, ${VERSION_COLS}, data) VALUES (?,?,?,?,?,?)`)
        .run(row.table, row.key, row.origin, row.hlc, row.deleted ? 1 : 0, row.data ? JSON.stringify(row.data) : null);
      return;
    }
    const exists = !!this.#db.query(`SELECT 1 FROM ${t.sql} WHERE ${t.where}`).get(...(t.keyArgs(row.key) as string[]));
    if (row.deleted || !row.data) {
      if (exists) {
        this.#db
          .query(`UPDATE ${t.sql} SET deleted = 1, origin = ?, hlc = ? WHERE ${t.where}`)
          .run(row.origin, row.hlc, ...(t.keyArgs(row.key) as string[]));
        if (row.table === "network") this.#db.query("DELETE FROM fixed_ips WHERE network_id = ?").run(row.key);
        // Deleted on another host (its instance had moved there): this host's marks for it go too,
        // even when the row that moved it here never arrived (the tombstone is newer and wins).
        if (row.table === "vif") leftThisHost(this.#db, row.key);
      } else {
        // A tombstone for a row we never had: kept so an older put cannot resurrect it.
        this.#db
          .query(`INSERT OR REPLACE INTO replica_extra (tbl, key, ${VERSION_COLS}, data) VALUES (?,?,?,?,1,NULL)`)
          .run(row.table, row.key, row.origin, row.hlc);
      }
      this.store.changed(t.entity, "delete", row.key);
      return;
    }
    const cols = { ...t.columns(row.data), origin: row.origin, hlc: row.hlc, deleted: 0 };
    if (row.table === "instance" && exists) keepHostOnly(this.#db, row.key, cols);
    const names = Object.keys(cols);
    this.#db
      .query(`INSERT OR REPLACE INTO ${t.sql} (${names.join(", ")}) VALUES (${names.map(() => "?").join(", ")})`)
      .run(...(Object.values(cols) as string[]));
    this.#db.query("DELETE FROM replica_extra WHERE tbl = ? AND key = ?").run(row.table, row.key);
    if (row.table === "vif" && row.data.host !== this.store.nodeId) leftThisHost(this.#db, row.key);
    if (row.table === "network" && !exists) {
      materializeFixedIps(
        this.store,
        networkFromRow(this.#db.query<Row, [string]>("SELECT * FROM networks WHERE id = ?").get(row.key)!),
      );
    }
    this.store.changed(t.entity, "put", row.key);
  }

  collectTombstones(before: string): number {
    this.#heads = null;
    this.#bulk++;
    return this.store.write(() => {
      let n = 0;
      for (const t of Object.values(TYPED))
        n += this.#db.query(`DELETE FROM ${t.sql} WHERE deleted = 1 AND hlc < ?`).run(before).changes;
      n += this.#db.query("DELETE FROM replica_extra WHERE deleted = 1 AND hlc < ?").run(before).changes;
      return n;
    });
  }

  dropOrigin(origin: string): number {
    this.#heads = null;
    this.#bulk++;
    return this.store.write(() => {
      let n = 0;
      for (const t of Object.values(TYPED))
        n += this.#db.query(`DELETE FROM ${t.sql} WHERE origin = ?`).run(origin).changes;
      n += this.#db.query("DELETE FROM replica_extra WHERE origin = ?").run(origin).changes;
      return n;
    });
  }

  loadMarks(): Record<string, string> {
    const raw = this.store.getMeta("sync_marks");
    return raw ? (JSON.parse(raw) as Record<string, string>) : {};
  }

  saveMarks(marks: Record<string, string>): void {
    this.store.setMeta("sync_marks", JSON.stringify(marks));
  }
}

/** Columns that never travel (see replica-tables.ts): a newer row from a peer keeps ours. */
function keepHostOnly(db: Store["db"], uuid: string, cols: Record<string, unknown>): void {
  const cur = db
    .query<{ user_data: Uint8Array | null; key_data: string | null; password: string | null }, [string]>(
      "SELECT user_data, key_data, password FROM instances WHERE uuid = ?",
    )
    .get(uuid);
  if (!cur) return;
  cols.user_data = cur.user_data;
  cols.key_data = cur.key_data;
  cols.password = cur.password;
}

/**
 * A VIF now lives on another host (its instance moved): the port declared here and the local
 * address bookkeeping go with it. A port row left behind would bind a stale name should the
 * instance come back.
 */
function leftThisHost(db: Store["db"], vifId: string): void {
  db.query("DELETE FROM vif_ports WHERE vif_id = ?").run(vifId);
  db.query("UPDATE fixed_ips SET instance_uuid = NULL, vif_id = NULL, allocated = 0, leased = 0 WHERE vif_id = ?").run(
    vifId,
  );
}

function keyExpr(table: string): string {
  if (table === "lease") return "network_id || '/' || mac";
  if (table === "instance") return "uuid";
  if (table === "keypair") return "name";
  if (table === "floating_ip") return "address";
  return "id";
}

/**
 * Where replicated rows live, as SQL: each typed table (its replica table name and key as
 * expressions) and `replica_extra` (which stores both). Every read across tables goes through
 * this list; each table has an (origin, hlc) index.
 */
const SOURCES: { from: string; tbl: string; key: string }[] = [
  ...Object.entries(TYPED).map(([name, t]) => ({ from: t.sql, tbl: `'${name}'`, key: keyExpr(name) })),
  { from: "replica_extra", tbl: "tbl", key: "key" },
];

function typedRow(table: ReplicaTable, t: TypedTable, r: Row): ReplicaRow {
  const deleted = !!r.deleted;
  const data = t.toData(r);
  return {
    table,
    key: t.keyOf(data),
    origin: r.origin as string,
    hlc: r.hlc as string,
    deleted,
    data: deleted ? null : data,
  };
}

function extraRow(e: Row): ReplicaRow {
  return {
    table: e.tbl as ReplicaTable,
    key: e.key as string,
    origin: e.origin as string,
    hlc: e.hlc as string,
    deleted: !!e.deleted,
    data: e.data ? (JSON.parse(e.data as string) as Record<string, unknown>) : null,
  };
}

/** IPAM promises, written (and committed) before a vote leaves this node. */
/** Replicated tables whose local writes must be durable before anyone relies on them. */
const DURABLE_TABLES = new Set<string>(["ipam_slot", "ip_alloc", "host_forgotten"]);

export class SqlitePromiseStore implements PromiseStore {
  constructor(readonly store: Store) {}

  get(slot: string): SlotPromise | undefined {
    const r = this.store.db
      .query<{ owner: string; epoch: number; released: number }, [string]>(
        "SELECT owner, epoch, released FROM ipam_promises WHERE slot = ?",
      )
      .get(slot);
    return r ? { owner: r.owner, epoch: r.epoch, released: !!r.released } : undefined;
  }

  put(slot: string, p: SlotPromise): void {
    // A vote: on disk before the answer leaves, or a power cut could let us promise the slot twice.
    this.store.durable(() => {
      this.store.db
        .query("INSERT OR REPLACE INTO ipam_promises (slot, owner, epoch, released) VALUES (?,?,?,?)")
        .run(slot, p.owner, p.epoch, p.released ? 1 : 0);
    });
  }

  empty(): boolean {
    return !this.store.db.query("SELECT 1 FROM ipam_promises LIMIT 1").get();
  }

  after(slot: string, limit: number): [string, SlotPromise][] {
    const rows = this.store.db
      .query<{ slot: string; owner: string; epoch: number; released: number }, [string, number]>(
        "SELECT slot, owner, epoch, released FROM ipam_promises WHERE slot > ? ORDER BY slot LIMIT ?",
      )
      .all(slot, limit);
    return rows.map((r) => [r.slot, { owner: r.owner, epoch: r.epoch, released: !!r.released }]);
  }
}
