/**
 * Keeps object identity across successive desired states: an instance, group or member list
 * that did not change is the same object as last time, which is how the dataplane's fast delta
 * recognises what it may leave alone (cost in proportion to what changed, not to the host).
 */
import type { DesiredState } from "../dataplane/desired.ts";

function reuse<T>(prev: Map<string, { json: string; obj: T }>, key: string, obj: T): T {
  const json = JSON.stringify(obj);
  const old = prev.get(key);
  if (old && old.json === json) return old.obj;
  prev.set(key, { json, obj });
  return obj;
}

export function createInterner() {
  const instances = new Map<string, { json: string; obj: DesiredState["instances"][number] }>();
  const groups = new Map<string, { json: string; obj: DesiredState["groups"][number] }>();
  const members = new Map<string, { json: string; obj: DesiredState["members"][string] }>();
  return (d: DesiredState): DesiredState => {
    const next: DesiredState = {
      ...d,
      instances: d.instances.map((i) => reuse(instances, i.uuid, i)),
      groups: d.groups.map((g) => reuse(groups, g.id, g)),
      members: Object.fromEntries(Object.entries(d.members).map(([k, m]) => [k, reuse(members, k, m)])),
    };
    // Forget what is gone, so the maps stay as large as the host's state.
    for (const [map, live] of [
      [instances, d.instances.map((i) => i.uuid)],
      [groups, d.groups.map((g) => g.id)],
      [members, Object.keys(d.members)],
    ] as const) {
      const keep = new Set(live);
      for (const k of map.keys()) if (!keep.has(k)) map.delete(k);
    }
    return next;
  };
}
