import type { ReplicaRow, ReplicaStore } from "../../src/replication/replica-store.ts";

/** Whole rows of one origin after a version, read as the page server does: references, then rows. */
export function rowsSince(s: ReplicaStore, origin: string, after: string, limit: number): ReplicaRow[] {
  return s.refsSince(origin, after, limit).map((r) => s.get(r.table, r.key)!);
}
