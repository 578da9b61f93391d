/** Which instances are libvirt domains of this host (local table, never replicated). */
import type { Store } from "./db.ts";

/** A libvirt domain netlet tracks; `missingSince` is set while libvirt no longer lists it. */
export interface TrackedDomain {
  uuid: string;
  name: string;
  missingSince: number | null;
}

export function listTrackedDomains(store: Store): TrackedDomain[] {
  return store.db
    .query<{ uuid: string; name: string; missing_since: number | null }, []>(
      "SELECT uuid, name, missing_since FROM libvirt_domains ORDER BY uuid",
    )
    .all()
    .map((r) => ({ uuid: r.uuid, name: r.name, missingSince: r.missing_since }));
}

export function trackDomain(store: Store, uuid: string, name: string): void {
  store.db
    .query(
      "INSERT INTO libvirt_domains (uuid, name, missing_since) VALUES (?, ?, NULL) ON CONFLICT(uuid) DO UPDATE SET name = excluded.name, missing_since = NULL",
    )
    .run(uuid, name);
}

export function markDomainMissing(store: Store, uuid: string, since: number): void {
  store.db
    .query("UPDATE libvirt_domains SET missing_since = ? WHERE uuid = ? AND missing_since IS NULL")
    .run(since, uuid);
}

export function untrackDomain(store: Store, uuid: string): void {
  store.db.query("DELETE FROM libvirt_domains WHERE uuid = ?").run(uuid);
}
