/**
 * The seam between state sync and the agent's store, imported by both and importing neither.
 * The store implements it over SQLite (`SqliteReplicaStore`: one transaction per `apply`,
 * raising the same change events as local writes, with `remote: true`); `MemoryReplicaStore`
 * (src/cluster/sync/) implements it for tests and the simulator.
 *
 * Every replicated row carries its version: the node that wrote it (`origin`), a hybrid
 * logical clock (`hlc`) and a tombstone flag. Two kinds of rows:
 *  - per-host single-writer rows (instances, VIFs, leases, hosts, IPAM claims and allocations):
 *    only the owning host writes them, so they never conflict;
 *  - admin rows (networks, security groups and rules, keypairs, floating pools and addresses):
 *    written on any node, last writer wins by (hlc, origin).
 */
export const HOST_TABLES = ["instance", "vif", "lease", "host", "ip_alloc", "ipam_slot"] as const;
/**
 * Per-host rows that change writer when an instance moves to another host (live migration): the
 * instance, its VIFs and their leases. The new host writes them with a newer version; the old
 * one, on seeing them, withdraws. Last writer wins, as for admin rows, so every node settles on
 * the same home whatever order the rows arrive in.
 */
export const MOVABLE_TABLES = ["instance", "vif", "lease"] as const;
export const ADMIN_TABLES = [
  "network",
  "security_group",
  "security_group_rule",
  "keypair",
  "floating_pool",
  "floating_ip",
  "host_forgotten",
] as const;
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
  /**
   * References to the current rows last written by `origin` with hlc > `after`, ascending by hlc,
   * at most `limit` (read from indexes): a page then reads whole rows with `get` as they fit.
   */
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

/** What the page server reads to answer a peer's pull. */
export type PageSource = Pick<ReplicaStore, "refsSince" | "get">;
/** What ingest needs to apply a peer's rows. */
export type RowSink = Pick<ReplicaStore, "get" | "apply">;
/** What a cached view of one table (IPAM slots) reads. */
export type TableScan = Pick<ReplicaStore, "scan" | "changes">;

export type ChangeListener = (row: ReplicaRow, remote: boolean) => void;
