/**
 * Validation and application of one row from a peer. A row that fails validation, or that
 * would take a single-writer row from its writer, is quarantined (counted and kept, bounded,
 * for diagnostics); a row from too far in the future is refused and retried later.
 */
import type { HlcClock } from "../../replication/hlc.ts";
import type { SyncStats } from "./config.ts";
import { HOST_TABLES, MOVABLE_TABLES, type ReplicaRow, type RowSink } from "../../replication/replica-store.ts";
import { validateRow } from "./schema.ts";

export interface Quarantined {
  reason: string;
  from: string;
  row: unknown;
}

/** What became of a row: applied, already held (stale), or not taken (invalid, future). */
export type Ingested = ["applied" | "stale", ReplicaRow] | ["invalid" | "future", undefined];

export class RowIntake {
  readonly #store: RowSink;
  readonly #clock: HlcClock;
  readonly #stats: SyncStats;
  /** The most recent rejected rows, at most 64. */
  readonly #quarantine: Quarantined[];

  constructor(store: RowSink, clock: HlcClock, stats: SyncStats, quarantine: Quarantined[]) {
    this.#store = store;
    this.#clock = clock;
    this.#stats = stats;
    this.#quarantine = quarantine;
  }

  /** Validate and apply one remote row; the row comes back when it was valid and not refused. */
  ingest(raw: unknown, from: string): Ingested {
    const v = validateRow(raw);
    if (!v.ok) return [this.#reject(v.reason, from, raw), undefined];
    const row = v.row;
    if (!this.#clock.observe(row.hlc)) {
      this.#stats.future++;
      return ["future", undefined];
    }
    const cur = this.#store.get(row.table, row.key);
    // Single-writer rows stay with their writer, except the rows of an instance that moved: its
    // new host writes them (a host only ever takes a row to itself, validateRow checks the
    // owner field), and the newer version wins on every node (see MOVABLE_TABLES).
    if (
      cur &&
      !cur.deleted &&
      !row.deleted &&
      cur.origin !== row.origin &&
      (HOST_TABLES as readonly string[]).includes(row.table) &&
      !(MOVABLE_TABLES as readonly string[]).includes(row.table)
    ) {
      return [this.#reject(`${row.table} ${row.key} owned by ${cur.origin}`, from, raw), undefined];
    }
    if (this.#store.apply(row)) {
      this.#stats.applied++;
      return ["applied", row];
    }
    this.#stats.stale++;
    return ["stale", row];
  }

  #reject(reason: string, from: string, row: unknown): "invalid" {
    this.#stats.quarantined++;
    this.#quarantine.push({ reason, from, row });
    if (this.#quarantine.length > 64) this.#quarantine.shift();
    return "invalid";
  }
}
