/**
 * Lease bookkeeping outside the request path, pure apart from reading the lease store: new host
 * tables on reconcile, force release of removed hosts, and expiry. Each returns the lease writes
 * and events for the shell to commit.
 */
import type { DhcpHost } from "./host.ts";
import { isActive, type LeaseEvent, type LeaseOp, type LeaseRecord, type LeaseStore } from "./leases.ts";
import { leaseEvent, type RetiredHost } from "./server.ts";

/** Most removed hosts remembered per bridge; the oldest are forgotten first. */
export const MAX_RETIRED = 4096;
/** How long past expiry another node's lease may stay unexpired before this node does it. */
export const ORPHAN_GRACE_MS = 3600_000;

export interface BridgeTable {
  /** Hosts served on the bridge, by lower-case MAC. */
  hosts: Map<string, DhcpHost>;
  /** Hosts removed from the table, so their renewals are NAKed (bounded by MAX_RETIRED). */
  retired: Map<string, RetiredHost>;
  /** Every network seen on the bridge, for the expiry sweep. */
  networkIds: Set<string>;
}

export interface LeaseChanges {
  ops: LeaseOp[];
  events: LeaseEvent[];
}

/**
 * The new table for a bridge. Entries equal to the current ones keep their object, so the
 * per-host encoded options (cached by object identity in reply.ts) survive a reconcile that
 * changed nothing for them, which is the common case: setBridges runs on every store change.
 */
export function hostTable(current: ReadonlyMap<string, DhcpHost>, hosts: readonly DhcpHost[]): Map<string, DhcpHost> {
  const table = new Map<string, DhcpHost>();
  for (const h of hosts) {
    const mac = h.mac.toLowerCase();
    const next = { ...h, mac };
    const old = current.get(mac);
    table.set(mac, old && JSON.stringify(old) === JSON.stringify(next) ? old : next);
  }
  return table;
}

/**
 * force_dhcp_release (nova's default): a host leaving the table (instance deleted) loses its
 * lease at once and is remembered as retired until its lease would have expired, so its renewal
 * gets a NAK. Without it the lease is left to expire and the client hears nothing. A host whose
 * instance moved to another host (`away`) keeps its lease and is not refused. Updates
 * `b.retired`; the caller then installs `next` as the table.
 */
export function retireRemoved(
  b: BridgeTable,
  next: ReadonlyMap<string, DhcpHost>,
  leases: LeaseStore,
  now: number,
  forceRelease = true,
  away: ReadonlySet<string> = new Set(),
): LeaseChanges {
  const out: LeaseChanges = { ops: [], events: [] };
  for (const mac of next.keys()) b.retired.delete(mac);
  for (const [mac, h] of b.hosts) {
    if (next.get(mac)?.networkId === h.networkId || !forceRelease) continue;
    // Moved to another host (live migration): the lease lives on there.
    if (away.has(mac)) {
      b.retired.delete(mac);
      continue;
    }
    b.retired.delete(mac);
    b.retired.set(mac, { networkId: h.networkId, address: h.address, until: now + h.leaseTime * 1000 });
    if (b.retired.size > MAX_RETIRED) b.retired.delete(b.retired.keys().next().value as string);
    const l = leases.get(h.networkId, mac);
    if (!l || !isActive(l.state)) continue;
    const lease: LeaseRecord = { ...l, state: "released", expiresAt: now, updatedAt: now };
    out.ops.push({ op: "put", lease });
    out.events.push(leaseEvent("lease.released", lease, now));
  }
  return out;
}

/**
 * Marks leases past their expiry as expired. Leases are replicated, so each node expires the
 * ones of MACs it serves (or recently removed); a lease nobody expired within ORPHAN_GRACE_MS
 * (its node is gone, or removed it while this one was down) is expired by whoever sees it.
 */
export function expireLeases(bridges: readonly BridgeTable[], leases: LeaseStore, now: number): LeaseChanges {
  const out: LeaseChanges = { ops: [], events: [] };
  const mine = (mac: string) => bridges.some((b) => b.hosts.has(mac) || b.retired.has(mac));
  for (const id of new Set(bridges.flatMap((b) => [...b.networkIds]))) {
    for (const l of leases.list(id)) {
      if (!isActive(l.state) || l.expiresAt > now) continue;
      if (!mine(l.mac) && now - l.expiresAt < ORPHAN_GRACE_MS) continue;
      const lease: LeaseRecord = { ...l, state: "expired", updatedAt: now };
      out.ops.push({ op: "put", lease });
      out.events.push(leaseEvent("lease.expired", lease, now));
    }
  }
  return out;
}
