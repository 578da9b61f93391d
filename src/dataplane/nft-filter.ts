/**
 * Security groups in table `inet netlet`. Dispatch is by the instance's address through verdict
 * maps (the bridge table guarantees a VM cannot use another's address) to a chain per profile
 * (groups + networks) shared by every instance with that profile, so adding an instance is map
 * elements only. Egress and ingress are two base chains on the forward hook: an
 * accept ends only its own base chain, so a packet between two local VMs passes both checks.
 * Rule texts contain no anonymous sets (they make large loads quadratic in the kernel).
 */
import type { DesiredState, GroupSpec, InstanceOnHost, NetworkOnHost, RuleSpec } from "./desired.ts";
import { shortKey } from "./desired.ts";
import { addChain, addSet, newTable, type Table } from "./nft-model.ts";
import { addDnsGuard } from "./nft-dns.ts";
import {
  familyOf,
  groupIndex,
  hasEgress,
  isAnyCidr,
  nftPorts,
  profileKey,
  ruleValid,
  sourceGroups,
} from "./sg-rules.ts";

export const FILTER_TABLE = "netlet";

/** The instance's ingress chain (shared by its profile). */
export const chainIn = (inst: InstanceOnHost) => `p-${shortKey(profileKey(inst))}-in`;
/** The instance's egress chain (shared by its profile; present only when a group has egress rules). */
export const chainOut = (inst: InstanceOnHost) => `p-${shortKey(profileKey(inst))}-out`;
export const groupChain = (id: string, dir: "in" | "out") => `g-${shortKey(id)}-${dir}`;
export const memberSet = (id: string, fam: 4 | 6) => `m${fam}-${shortKey(id)}`;

/** One group rule as nft rule text, or null when it cannot apply. */
export function nftGroupRule(r: RuleSpec): string | null {
  if (!ruleValid(r)) return null;
  const fam = familyOf(r);
  const addr = r.direction === "ingress" ? "saddr" : "daddr";
  const parts = [`meta nfproto ipv${fam}`];
  if (r.cidr !== null) {
    if (!isAnyCidr(r.cidr)) parts.push(`${fam === 4 ? "ip" : "ip6"} ${addr} ${r.cidr}`);
  } else if (r.sourceGroupId) {
    parts.push(`${fam === 4 ? "ip" : "ip6"} ${addr} @${memberSet(r.sourceGroupId, fam)}`);
  }
  const ports = nftPorts(r);
  if (ports) parts.push(ports);
  parts.push("accept");
  return parts.join(" ");
}

function groupRules(g: GroupSpec, dir: "ingress" | "egress"): string[] {
  let m = ruleMemo.get(g);
  if (!m) {
    const of = (want: string) =>
      g.rules
        .filter((r) => r.direction === want)
        .map(nftGroupRule)
        .filter((x): x is string => x !== null);
    m = { ingress: of("ingress"), egress: of("egress") };
    ruleMemo.set(g, m);
  }
  return m[dir];
}

/** Rendered rules per group object (a composition root that reuses unchanged groups skips work). */
const ruleMemo = new WeakMap<GroupSpec, { ingress: string[]; egress: string[] }>();

/** De-duplicated member list, remembered per list object. */
function unique(list: string[]): string[] {
  let u = uniqueMemo.get(list);
  if (!u) uniqueMemo.set(list, (u = [...new Set(list)]));
  return u;
}

const uniqueMemo = new WeakMap<string[], string[]>();

/** Ingress chain of a profile: its networks' DHCP/same-net accepts, then its groups. */
function profileInRules(nets: NetworkOnHost[], allowSameNet: boolean, netIds: string[], groupIds: string[]): string[] {
  const rules = ["ct state invalid counter name drop-invalid drop"];
  for (const id of netIds) {
    const n = nets.find((x) => x.id === id);
    if (!n) continue;
    // DHCP replies from this host, or from the host serving a network bridged only here (nova's allow-dhcp-server).
    const server = n.hostAddress ?? n.remoteServer;
    if (server) rules.push(`ip saddr ${server} udp sport 67 udp dport 68 accept`);
    if (allowSameNet) {
      if (n.cidr) rules.push(`ip saddr ${n.cidr} accept`);
      if (n.cidrV6) rules.push(`ip6 saddr ${n.cidrV6} accept`);
    }
  }
  for (const id of groupIds) rules.push(`jump ${groupChain(id, "in")}`);
  rules.push("counter name drop-ingress drop");
  return rules;
}

/** One instance's share of the table: its profile's chains and its dispatch map elements. */
export interface Fragment {
  chains: [string, () => string[]][];
  /** Ids of the instance's groups that exist. */
  groups: string[];
  in4: string[];
  in6: string[];
  out4: string[];
  out6: string[];
}

function fragment(d: DesiredState, inst: InstanceOnHost, groups: Map<string, GroupSpec>): Fragment {
  const cin = chainIn(inst),
    cout = chainOut(inst);
  // The closures capture only small values, never `d`: remembered fragments must not keep old
  // desired states alive.
  const nets = [...d.networks, ...d.standby],
    same = d.config.allowSameNetTraffic;
  const netIds = [...new Set(inst.vifs.map((v) => v.networkId))].sort();
  const groupIds = inst.groups.filter((id) => groups.has(id));
  const f: Fragment = {
    chains: [[cin, () => profileInRules(nets, same, netIds, groupIds)]],
    groups: groupIds,
    in4: [],
    in6: [],
    out4: [],
    out6: [],
  };
  const eg = inst.groups
    .map((id) => groups.get(id))
    .filter((g): g is GroupSpec => !!g && hasEgress(g))
    .map((g) => g.id);
  if (eg.length > 0)
    f.chains.push([cout, () => [...eg.map((id) => `jump ${groupChain(id, "out")}`), "counter name drop-egress drop"]]);
  for (const v of inst.vifs) {
    if (v.ipv4) f.in4.push(`${v.ipv4} : goto ${cin}`);
    if (v.ipv6) f.in6.push(`${v.ipv6} : goto ${cin}`);
    if (eg.length === 0) continue;
    if (v.ipv4) f.out4.push(`${v.ipv4} : goto ${cout}`);
    if (v.ipv6) f.out6.push(`${v.ipv6} : goto ${cout}`);
  }
  return f;
}

/**
 * Fragments are remembered per instance object and context, so that a composition root that
 * reuses unchanged instance objects pays only for the instances that changed.
 */
const fragments = new WeakMap<InstanceOnHost, { ctx: string; frag: Fragment }>();

/** Everything outside the instance that its fragment depends on. */
function contextKey(d: DesiredState): string {
  const key = JSON.stringify([
    d.networks,
    d.standby,
    d.config.allowSameNetTraffic,
    d.groups.map((g) => [g.id, hasEgress(g)]),
  ]);
  // Hand out the same string object while the context is unchanged: the per-instance cache
  // check is then a pointer comparison, not 10,000 comparisons of a long string.
  if (key !== lastContext) lastContext = key;
  return lastContext;
}

let lastContext = "";

function cachedFragment(d: DesiredState, inst: InstanceOnHost, groups: Map<string, GroupSpec>, ctx: string): Fragment {
  const hit = fragments.get(inst);
  if (hit && hit.ctx === ctx) return hit.frag;
  const frag = fragment(d, inst, groups);
  fragments.set(inst, { ctx, frag });
  return frag;
}

function base(name: string, hook: string, prio: number, dir: "in" | "out"): [string, string[], string] {
  const a = dir === "in" ? "daddr" : "saddr";
  return [
    name,
    [
      "ct state established,related accept",
      // Neighbour discovery is untracked by conntrack; RAs from VMs are dropped in the bridge table.
      "meta l4proto ipv6-icmp ct state untracked accept",
      `ip ${a} vmap @${dir}4`,
      `ip6 ${a} vmap @${dir}6`,
    ],
    `type filter hook ${hook} priority ${prio}; policy accept;`,
  ];
}

/** The (remembered) fragment of one instance under `d`. */
export function fragmentOf(d: DesiredState, inst: InstanceOnHost): Fragment {
  return fragmenter(d)(inst);
}

/** `fragmentOf` for many instances of one `d` (the context is computed once). */
export function fragmenter(d: DesiredState): (inst: InstanceOnHost) => Fragment {
  const groups = groupIndex(d.groups);
  const ctx = contextKey(d);
  return (inst) => cachedFragment(d, inst, groups, ctx);
}

/** Compute (and remember) the fragments of instances [from, to), to spread a cold render. */
export function warmFilter(d: DesiredState, from: number, to: number): void {
  const groups = groupIndex(d.groups);
  const ctx = contextKey(d);
  for (const inst of d.instances.slice(from, to)) cachedFragment(d, inst, groups, ctx);
}

/** Build table `inet netlet` (security groups) from the desired state. */
export function filterTable(d: DesiredState): Table {
  return drain(filterTableSteps(d));
}

/** Runs a build generator to completion. */
export function drain<T>(g: Generator<void, T>): T {
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
  }
}

/** `filterTable` as steps: yields every `slice` instances so a caller can pause between. */
export function* filterTableSteps(d: DesiredState, slice = 500): Generator<void, Table> {
  const t = newTable("inet", FILTER_TABLE);
  t.counters.push("drop-invalid", "drop-ingress", "drop-egress");
  const groups = groupIndex(d.groups);
  const maps = { in4: [] as string[], in6: [] as string[], out4: [] as string[], out6: [] as string[] };
  const used = new Set<string>();
  const ctx = contextKey(d);
  let n = 0;
  for (const inst of d.instances) {
    if (++n % slice === 0) yield;
    const f = cachedFragment(d, inst, groups, ctx);
    // Chains and group use are per profile: only the first instance of a profile adds them.
    if (!t.chains.has(f.chains[0][0])) {
      for (const [name, rules] of f.chains) addChain(t, name, rules());
      for (const id of f.groups) used.add(id);
    }
    maps.in4.push(...f.in4);
    maps.in6.push(...f.in6);
    maps.out4.push(...f.out4);
    maps.out6.push(...f.out6);
  }
  yield;
  const usedSpecs = [...used].map((id) => groups.get(id)!);
  for (const g of usedSpecs) {
    addChain(t, groupChain(g.id, "in"), groupRules(g, "ingress"));
    if (hasEgress(g)) addChain(t, groupChain(g.id, "out"), groupRules(g, "egress"));
  }
  for (const id of sourceGroups(usedSpecs)) {
    const m = d.members[id] ?? { v4: [], v6: [] };
    addSet(t, memberSet(id, 4), "type ipv4_addr;", unique(m.v4));
    addSet(t, memberSet(id, 6), "type ipv6_addr;", unique(m.v6));
  }
  addSet(t, "in4", "type ipv4_addr : verdict;", maps.in4, true);
  addSet(t, "in6", "type ipv6_addr : verdict;", maps.in6, true);
  addSet(t, "out4", "type ipv4_addr : verdict;", maps.out4, true);
  addSet(t, "out6", "type ipv6_addr : verdict;", maps.out6, true);
  for (const [name, rules, spec] of [
    base("egress", "forward", 0, "out"),
    base("ingress", "forward", 10, "in"),
    base("host-out", "output", 10, "in"),
  ])
    addChain(t, name, rules, spec);
  addDnsGuard(t, d);
  return t;
}
