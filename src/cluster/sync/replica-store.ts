/** An in-memory `ReplicaStore` for tests and the simulator (the agent uses the SQLite one). */
import { newerThan } from "../../replication/hlc.ts";
import type {
  ChangeListener,
  ReplicaRow,
  ReplicaStore,
  ReplicaTable,
  RowRef,
} from "../../replication/replica-store.ts";

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

  #since(origin: string, after: string, limit: number): ReplicaRow[] {
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
    return this.#since(origin, after, limit).map((r) => ({ table: r.table, key: r.key, hlc: r.hlc }));
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
