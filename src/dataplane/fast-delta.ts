/**
 * The fast path for small changes at scale: when only instances (compared by object identity),
 * group members or floating IPs changed, the transaction is computed from the changed objects
 * alone — O(changes), not O(instances) — using a small summary of what is programmed. Anything
 * else (config, networks, group rules, a group not programmed yet) returns null and the caller
 * takes the general path (`renderTableDelta`).
 */
import type { DesiredState, GroupSpec, InstanceOnHost } from "./desired.ts";
import { binding, BINDING_SETS, BRIDGE_TABLE } from "./nft-bridge.ts";
import { FILTER_TABLE, fragmenter, groupChain, memberSet } from "./nft-filter.ts";
import { diffTable, type Table } from "./nft-model.ts";
import { natTable } from "./nft-nat.ts";
import { hasEgress } from "./sg-rules.ts";

/** What the fast path needs to know about the programmed filter and NAT tables. */
export interface FastState {
  /** Instances per profile ingress chain. */
  profiles: Map<string, number>;
  /** Chains and sets of `inet netlet`. */
  chains: Set<string>;
  sets: Set<string>;
  nat: Table | null;
}

/** Above this many changed instances the general path is as cheap. */
const MAX_CHANGES = 500;

/** Summary of freshly built tables for `d`. */
export function fastStateOf(tables: Table[], d: DesiredState): FastState {
  const filter = tables.find((t) => t.family === "inet" && t.name === FILTER_TABLE);
  const profiles = new Map<string, number>();
  if (filter) {
    const frag = fragmenter(d);
    for (const inst of d.instances) {
      const name = frag(inst).chains[0][0];
      profiles.set(name, (profiles.get(name) ?? 0) + 1);
    }
  }
  return {
    profiles,
    chains: new Set(filter ? filter.chains.keys() : []),
    sets: new Set(filter ? filter.sets.keys() : []),
    nat: tables.find((t) => t.family === "ip") ?? null,
  };
}

function sameJson(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

function sameGroups(a: GroupSpec[], b: GroupSpec[]): boolean {
  return a === b || (a.length === b.length && a.every((g, i) => g === b[i] || sameJson(g, b[i])));
}

const keyOf = (e: string) => e.split(" : ")[0];

interface Lines {
  chains: string[];
  del: string[];
  add: string[];
  drop: string[];
}

function elements(out: string[], verb: string, table: string, set: string, elems: string[]): void {
  if (elems.length > 0) out.push(`${verb} element ${table} ${set} { ${elems.join(", ")} }`);
}

/** Filter-table lines for removed/added instances; false when the fast path cannot apply. */
function filterLines(
  prev: DesiredState,
  next: DesiredState,
  removed: InstanceOnHost[],
  added: InstanceOnHost[],
  st: FastState,
  l: Lines,
): boolean {
  const T = `inet ${FILTER_TABLE}`;
  const groups = new Map(next.groups.map((g) => [g.id, g]));
  const maps = { in4: [[], []], in6: [[], []], out4: [[], []], out6: [[], []] } as Record<string, [string[], string[]]>;
  const before = fragmenter(prev),
    after = fragmenter(next);
  const fragmentOf = (d: DesiredState, inst: InstanceOnHost) => (d === prev ? before : after)(inst);
  for (const inst of removed) {
    const f = fragmentOf(prev, inst);
    for (const m of ["in4", "in6", "out4", "out6"] as const) maps[m][0].push(...f[m].map(keyOf));
    st.profiles.set(f.chains[0][0], (st.profiles.get(f.chains[0][0]) ?? 1) - 1);
  }
  for (const inst of added) {
    const f = fragmentOf(next, inst);
    for (const id of f.groups) {
      if (!st.chains.has(groupChain(id, "in"))) return false;
      if (hasEgress(groups.get(id)!) && !st.chains.has(groupChain(id, "out"))) return false;
    }
    const name = f.chains[0][0];
    if (!st.chains.has(name)) {
      for (const [chain, rules] of f.chains) {
        l.chains.push(`add chain ${T} ${chain}`, ...rules().map((r) => `add rule ${T} ${chain} ${r}`));
        st.chains.add(chain);
      }
    }
    st.profiles.set(name, (st.profiles.get(name) ?? 0) + 1);
    for (const m of ["in4", "in6", "out4", "out6"] as const) maps[m][1].push(...f[m]);
  }
  for (const [m, [del, add]] of Object.entries(maps)) {
    elements(l.del, "delete", T, m, del);
    elements(l.add, "add", T, m, add);
  }
  for (const inst of removed) {
    const f = fragmentOf(prev, inst);
    if ((st.profiles.get(f.chains[0][0]) ?? 0) > 0 || !st.chains.has(f.chains[0][0])) continue;
    st.profiles.delete(f.chains[0][0]);
    for (const [chain] of f.chains) {
      l.drop.push(`flush chain ${T} ${chain}`, `delete chain ${T} ${chain}`);
      st.chains.delete(chain);
    }
  }
  memberLines(prev, next, st, l);
  return true;
}

/** Element updates of the source-group member sets that are programmed. */
function memberLines(prev: DesiredState, next: DesiredState, st: FastState, l: Lines): void {
  if (prev.members === next.members) return;
  const ids = new Set([...Object.keys(prev.members), ...Object.keys(next.members)]);
  for (const id of ids) {
    const a = prev.members[id],
      b = next.members[id];
    if (a === b) continue;
    for (const fam of [4, 6] as const) {
      const set = memberSet(id, fam);
      if (!st.sets.has(set)) continue;
      const before = new Set(fam === 4 ? a?.v4 : a?.v6);
      const after = new Set(fam === 4 ? b?.v4 : b?.v6);
      elements(
        l.del,
        "delete",
        `inet ${FILTER_TABLE}`,
        set,
        [...before].filter((x) => !after.has(x)),
      );
      elements(
        l.add,
        "add",
        `inet ${FILTER_TABLE}`,
        set,
        [...after].filter((x) => !before.has(x)),
      );
    }
  }
}

function bridgeLines(removed: InstanceOnHost[], added: InstanceOnHost[], l: Lines): void {
  const T = `bridge ${BRIDGE_TABLE}`;
  const gone = removed.map(binding),
    fresh = added.map(binding);
  for (const [k, set] of BINDING_SETS) {
    elements(
      l.del,
      "delete",
      T,
      set,
      gone.flatMap((b) => b[k]),
    );
    elements(
      l.add,
      "add",
      T,
      set,
      fresh.flatMap((b) => b[k]),
    );
  }
}

/**
 * Transaction text from `prev` to `next` and the updated summary, or null when the change is
 * not one the fast path handles. `st` is not modified.
 */
export function fastDelta(
  prev: DesiredState,
  next: DesiredState,
  st: FastState,
): { text: string; state: FastState } | null {
  const driver = next.config.firewallDriver;
  if (prev.config.firewallDriver !== driver || !sameJson(prev.config, next.config)) return null;
  if (!sameJson(prev.networks, next.networks) || !sameGroups(prev.groups, next.groups)) return null;
  if (!sameJson(prev.standby, next.standby) || !sameJson(prev.foreignPorts, next.foreignPorts)) return null;
  const inNext = new Set(next.instances),
    inPrev = new Set(prev.instances);
  const removed = prev.instances.filter((i) => !inNext.has(i));
  const added = next.instances.filter((i) => !inPrev.has(i));
  if (removed.length + added.length > MAX_CHANGES) return null;
  const state: FastState = { profiles: new Map(st.profiles), chains: new Set(st.chains), sets: st.sets, nat: st.nat };
  const l: Lines = { chains: [], del: [], add: [], drop: [] };
  if (driver === "nftables" && !filterLines(prev, next, removed, added, state, l)) return null;
  if (driver !== "noop") bridgeLines(removed, added, l);
  let nat = "";
  if (driver !== "iptables" && st.nat) {
    const t = natTable(next);
    const d = diffTable(st.nat, t);
    if (d === null) return null;
    nat = d;
    state.nat = t;
  }
  // Deletes before adds: a changed instance deletes its old elements and adds its new ones.
  const text = [...l.chains, ...l.del, ...l.add, ...l.drop].map((x) => `${x}\n`).join("") + nat;
  return { text, state };
}
