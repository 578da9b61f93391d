/**
 * Reconciliation with libvirt's domains, without I/O: what libvirt lists, what netlet tracks as
 * libvirt's and which instances exist, at time `now`, in; what to do out.
 *
 * - a running domain is re-declared as the hook's `reconnect` would (registered if it started
 *   while the agent was away, its tap plugged), so no guest loses its port binding across agent
 *   or libvirtd restarts;
 * - a defined domain that is not running has its port withdrawn (`stopped`) if one is left;
 * - an instance whose domain vanished from libvirt (undefined, or a transient domain gone) is
 *   deleted once it has been missing for `graceMs`, releasing its addresses; a domain that comes
 *   back within the grace keeps its instance.
 */
import type { TrackedDomain } from "../store/libvirt-domains.ts";

export interface ListedDomain {
  uuid: string;
  name: string;
  running: boolean;
  xml: string;
}
export type { TrackedDomain };

export interface LifecyclePlan {
  /** Domains to run through the hook's plan: `reconnect` (running) or `stopped`. */
  hook: { op: "reconnect" | "stopped"; domain: ListedDomain }[];
  /** Start (or keep) tracking these as libvirt's; clears a missing mark. */
  track: { uuid: string; name: string }[];
  /** First seen missing now. */
  missing: string[];
  /** Grace over: delete the instance and stop tracking. */
  delete: string[];
  /** Tracked, but the instance is gone already (deleted by hand): stop tracking. */
  untrack: string[];
}

export function planLifecycle(
  now: number,
  graceMs: number,
  listed: ListedDomain[],
  tracked: TrackedDomain[],
  instances: Set<string>,
): LifecyclePlan {
  const plan: LifecyclePlan = { hook: [], track: [], missing: [], delete: [], untrack: [] };
  const present = new Set(listed.map((d) => d.uuid));
  const trackedBy = new Map(tracked.map((t) => [t.uuid, t]));
  for (const d of listed) {
    if (d.running) plan.hook.push({ op: "reconnect", domain: d });
    else if (instances.has(d.uuid)) plan.hook.push({ op: "stopped", domain: d });
    const t = trackedBy.get(d.uuid);
    // Tracked from the moment an instance with the domain's uuid exists (the hook made it, or an
    // operator pasted `netlet libvirt xml` into the domain).
    if (instances.has(d.uuid) && (!t || t.missingSince !== null || t.name !== d.name))
      plan.track.push({ uuid: d.uuid, name: d.name });
  }
  for (const t of tracked) {
    if (present.has(t.uuid)) continue;
    if (!instances.has(t.uuid)) plan.untrack.push(t.uuid);
    else if (t.missingSince === null) (graceMs === 0 ? plan.delete : plan.missing).push(t.uuid);
    else if (now - t.missingSince >= graceMs) plan.delete.push(t.uuid);
  }
  return plan;
}
