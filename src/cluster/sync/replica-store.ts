/**
 * The seam between state sync and the agent's store. The composition root implements it over
 * SQLite (one transaction per `apply`, raising the same change events as local writes, with
 * `remote: true`); `MemoryReplicaStore` implements it for tests and the simulator.
 *
 * Every replicated row carries its version: the node that wrote it (`origin`), a hybrid
 * logical clock (`hlc`) and a tombstone flag. Two kinds of rows:
 *  - per-host single-writer rows (instances, VIFs, leases, hosts, IPAM claims and allocations):
 *    only the owning host writes them, so they never conflict;
 *  - admin rows (networks, security groups and rules, keypairs, floating pools and addresses):
 *    written on any node, last writer wins by (hlc, origin).
 */
import { newerThan } from "../../store/hlc.ts";

export const HOST_TABLES = ["instance", "vif", "lease", "host", "ip_alloc", "ipam_slot"] as const;
export const ADMIN_TABLES = ["network", "security_group", "security_group_rule", "keypair", "floating_pool", "floating_ip", "host_forgotten"] as const;
export type HostTable = (typeof HOST_TABLES)[number];
export type AdminTable = (typeof ADMIN_TABLES)[number];
export type ReplicaTable = HostTable | AdminTable;

export interface ReplicaRow {
  table: ReplicaTable;
  key: string;
  origin: string;
  hlc: string;
  deleted: boolean;
  /** The record without its version fields; null for a tombstone. */
  data: Record<string, unknown> | null;
}

/** Where a row is and its version, without its data. */
export interface RowRef {
  table: ReplicaTable;
  key: string;
  hlc: string;
}

export interface ReplicaStore {
  /** Per origin, the highest hlc among current rows last written by that origin (digests). */
  heads(): Map<string, string>;
  /** Current rows last written by `origin` with hlc > `after`, ascending by hlc, at most `limit`. */
  changedSince(origin: string, after: string, limit: number): ReplicaRow[];
  /** The same rows as references only (read from indexes): a page reads whole rows as they fit. */
  refsSince(origin: string, after: string, limit: number): RowRef[];
  /**
   * The highest hlc among current rows of `origin` below `hlc` ("" when none): the version a
   * local write follows, whatever order writes are announced in.
   */
  before(origin: string, hlc: string): string;
  get(table: ReplicaTable, key: string): ReplicaRow | undefined;
  /** Current rows of one table, tombstones included (IPAM views, duplicate check). */
  scan(table: ReplicaTable): Iterable<ReplicaRow>;
  /** Current rows of one table whose key starts with `prefix` (one host's allocations). */
  scanPrefix(table: ReplicaTable, prefix: string): Iterable<ReplicaRow>;
  /**
   * A counter that moves whenever a row of `table` is written, applied or removed through this
   * store, so readers can keep views of rarely changing tables (IPAM slots) between changes.
   */
  changes(table: ReplicaTable): number;
  /** A local write of this node (raises change events with `remote: false`). */
  put(row: ReplicaRow): void;
  /**
   * Store an already validated remote row if it is newer than what we hold (LWW by hlc, origin
   * as tiebreak). Returns true when the store changed (and change events were raised).
   */
  apply(row: ReplicaRow): boolean;
  /** Delete tombstones with hlc < `before`; returns how many went. */
  collectTombstones(before: string): number;
  /** Reset path: forget every current row last written by `origin`, to re-pull it whole. */
  dropOrigin(origin: string): number;
  /** Sync progress per origin ("complete up to"), persisted so restarts resume. */
  loadMarks(): Record<string, string>;
  saveMarks(marks: Record<string, string>): void;
}

export type ChangeListener = (row: ReplicaRow, remote: boolean) => void;

/** In-memory implementation for tests and the simulator. */
export class MemoryReplicaStore implements ReplicaStore {
  readonly #rows = new Map<string, ReplicaRow>();
  readonly #byOrigin = new Map<string, Set<string>>();
  readonly #changes = new Map<string, number>();
  #marks: Record<string, string> = {};
  readonly listeners: ChangeListener[] = [];

  get size(): number {
    return this.#rows.size;
  }

  /** A local write (the API path): always wins locally, raises a non-remote change. */
  put(row: ReplicaRow): void {
    this.#set(row);
    for (const l of this.listeners) l(row, false);
  }

  rows(): ReplicaRow[] {
    return [...this.#rows.values()];
  }

  heads(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [o, keys] of this.#byOrigin) {
      let max = "";
      for (const k of keys) max = maxStr(max, this.#rows.get(k)!.hlc);
      if (max) out.set(o, max);
    }
    return out;
  }

  changedSince(origin: string, after: string, limit: number): ReplicaRow[] {
    const keys = this.#byOrigin.get(origin);
    if (!keys) return [];
    const out: ReplicaRow[] = [];
    for (const k of keys) {
      const r = this.#rows.get(k)!;
      if (r.hlc > after) out.push(r);
    }
    out.sort((a, b) => (a.hlc < b.hlc ? -1 : a.hlc > b.hlc ? 1 : 0));
    return out.slice(0, limit);
  }

  refsSince(origin: string, after: string, limit: number): RowRef[] {
    return this.changedSince(origin, after, limit).map((r) => ({ table: r.table, key: r.key, hlc: r.hlc }));
  }

  before(origin: string, hlc: string): string {
    let max = "";
    for (const k of this.#byOrigin.get(origin) ?? []) {
      const h = this.#rows.get(k)!.hlc;
      if (h < hlc && h > max) max = h;
    }
    return max;
  }

  get(table: ReplicaTable, key: string): ReplicaRow | undefined {
    return this.#rows.get(`${table}/${key}`);
  }

  *scan(table: ReplicaTable): Iterable<ReplicaRow> {
    for (const r of this.#rows.values()) if (r.table === table) yield r;
  }

  *scanPrefix(table: ReplicaTable, prefix: string): Iterable<ReplicaRow> {
    for (const r of this.scan(table)) if (r.key.startsWith(prefix)) yield r;
  }

  changes(table: ReplicaTable): number {
    return this.#changes.get(table) ?? 0;
  }

  apply(row: ReplicaRow): boolean {
    const cur = this.get(row.table, row.key);
    if (cur && !newerThan(row, cur)) return false;
    this.#set(row);
    for (const l of this.listeners) l(row, true);
    return true;
  }

  collectTombstones(before: string): number {
    let n = 0;
    for (const [k, r] of this.#rows) {
      if (r.deleted && r.hlc < before) {
        this.#unlink(k, r);
        n++;
      }
    }
    return n;
  }

  dropOrigin(origin: string): number {
    const keys = [...(this.#byOrigin.get(origin) ?? [])];
    for (const k of keys) this.#unlink(k, this.#rows.get(k)!);
    return keys.length;
  }

  loadMarks(): Record<string, string> {
    return { ...this.#marks };
  }

  saveMarks(marks: Record<string, string>): void {
    this.#marks = { ...marks };
  }

  #set(row: ReplicaRow): void {
    this.#changes.set(row.table, this.changes(row.table) + 1);
    const k = `${row.table}/${row.key}`;
    const cur = this.#rows.get(k);
    if (cur) this.#byOrigin.get(cur.origin)?.delete(k);
    this.#rows.set(k, row);
    let s = this.#byOrigin.get(row.origin);
    if (!s) this.#byOrigin.set(row.origin, (s = new Set()));
    s.add(k);
  }

  #unlink(k: string, r: ReplicaRow): void {
    this.#changes.set(r.table, this.changes(r.table) + 1);
    this.#rows.delete(k);
    this.#byOrigin.get(r.origin)?.delete(k);
  }
}

const maxStr = (a: string, b: string) => (a > b ? a : b);
