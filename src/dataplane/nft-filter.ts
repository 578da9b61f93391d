/**
 * Security groups in table `inet netlet`. Dispatch is by the instance's address through verdict
 * maps (the bridge table guarantees a VM cannot use another's address) to a chain per profile
 * (groups + networks) shared by every instance with that profile, so adding an instance is map
 * elements only. Egress and ingress are two base chains on the forward hook: an
 * accept ends only its own base chain, so a packet between two local VMs passes both checks.
 * Rule texts contain no anonymous sets (they make large loads quadratic in the kernel).
 */
import type { DesiredState, GroupSpec, InstanceOnHost, NetworkOnHost, RuleSpec } from "./desired.ts";
import { shortKey, shortKeys } from "./desired.ts";
import { addChain, addSet, GatherMemo, newTable, type Table } from "./nft-model.ts";
import { addDnsGuard } from "./nft-dns.ts";
import {
  familyOf,
  groupIndex,
  hasEgress,
  isAnyCidr,
  networksOf,
  nftPorts,
  profileKey,
  ruleValid,
  sourceGroups,
} from "./sg-rules.ts";

export const FILTER_TABLE = "netlet";

/** The instance's ingress chain (shared by its profile). */
export const chainIn = (inst: InstanceOnHost, key = shortKey) => `p-${key(profileKey(inst))}-in`;
/** The instance's egress chain (shared by its profile; present only when a group has egress rules). */
export const chainOut = (inst: InstanceOnHost, key = shortKey) => `p-${key(profileKey(inst))}-out`;
export const groupChain = (id: string, dir: "in" | "out", key = shortKey) => `g-${key(id)}-${dir}`;
export const memberSet = (id: string, fam: 4 | 6, key = shortKey) => `m${fam}-${key(id)}`;

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
  return g.rules
    .filter((r) => r.direction === dir)
    .map(nftGroupRule)
    .filter((x): x is string => x !== null);
}

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

/**
 * One instance's fragment. `groups` indexes `d.groups`; `key` is `shortKey`, possibly remembered.
 * The fragment depends on the instance and on `filterContext(d)` only, so a caller may keep it
 * while both are unchanged.
 */
export function fragment(
  d: DesiredState,
  inst: InstanceOnHost,
  groups: Map<string, GroupSpec>,
  key: (id: string) => string = shortKey,
): Fragment {
  const netIds = networksOf(inst);
  const profile = key(`${inst.groups.join(",")}|${netIds.join(",")}`); // profileKey(inst)
  const cin = `p-${profile}-in`,
    cout = `p-${profile}-out`;
  // The closures capture only small values, never `d`: kept fragments must not keep old
  // desired states alive.
  const nets = [...d.networks, ...d.standby],
    same = d.config.allowSameNetTraffic;
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

/** Everything outside the instance that its fragment depends on, as a comparable text. */
export function filterContext(d: DesiredState): string {
  const nets = [...d.networks, ...d.standby].map(
    (n) => `${n.id} ${n.hostAddress} ${n.remoteServer} ${n.cidr} ${n.cidrV6}`,
  );
  const groups = d.groups.map((g) => `${g.id} ${hasEgress(g)}`);
  return [String(d.config.allowSameNetTraffic), ...nets, "", ...groups].join("\n");
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

/** Build table `inet netlet` (security groups) from the desired state. */
export function filterTable(d: DesiredState): Table {
  const groups = groupIndex(d.groups);
  const key = shortKeys();
  const distinct = (_: string, list: string[]) => [...new Set(list)];
  const fragmentAt = (i: number) => fragment(d, d.instances[i], groups, key);
  return drain(filterTableSteps(d, { fragmentAt, key, distinct, maps: new GatherMemo() }));
}

/** Runs a build generator to completion. */
export function drain<T>(g: Generator<void, T>): T {
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
  }
}

/** What a caller of `filterTableSteps` may remember between builds. */
export interface FilterMemo {
  /** The fragment of `d.instances[i]`. */
  fragmentAt: (i: number) => Fragment;
  /** `shortKey`. */
  key: (id: string) => string;
  /** The distinct addresses of `list`, the member list of set `set`. */
  distinct: (set: string, list: string[]) => string[];
  /** The verdict maps' element lists. */
  maps: GatherMemo<Fragment>;
}

/** `filterTable` as steps: yields every `slice` instances so a caller can pause between. */
export function* filterTableSteps(d: DesiredState, memo: FilterMemo, slice = 500): Generator<void, Table> {
  const { fragmentAt, key, distinct, maps: mapsMemo } = memo;
  const t = newTable("inet", FILTER_TABLE);
  t.counters.push("drop-invalid", "drop-ingress", "drop-egress");
  const groups = groupIndex(d.groups);
  const frags = new Array<Fragment>(d.instances.length);
  const used = new Set<string>();
  for (let i = 0; i < d.instances.length; i++) {
    if ((i + 1) % slice === 0) yield;
    const f = (frags[i] = fragmentAt(i));
    // Chains and group use are per profile: only the first instance of a profile adds them.
    if (!t.chains.has(f.chains[0][0])) {
      for (const [name, rules] of f.chains) addChain(t, name, rules());
      for (const id of f.groups) used.add(id);
    }
  }
  yield;
  mapsMemo.begin(frags);
  const maps = {
    in4: mapsMemo.gather("in4", (f) => f.in4),
    in6: mapsMemo.gather("in6", (f) => f.in6),
    out4: mapsMemo.gather("out4", (f) => f.out4),
    out6: mapsMemo.gather("out6", (f) => f.out6),
  };
  const usedSpecs = [...used].map((id) => groups.get(id)!);
  for (const g of usedSpecs) {
    addChain(t, groupChain(g.id, "in", key), groupRules(g, "ingress"));
    if (hasEgress(g)) addChain(t, groupChain(g.id, "out", key), groupRules(g, "egress"));
  }
  for (const id of sourceGroups(usedSpecs)) {
    yield; // de-duplicating a large group's members is a slice of its own
    const m = d.members[id] ?? { v4: [], v6: [] };
    const v4 = memberSet(id, 4, key),
      v6 = memberSet(id, 6, key);
    addSet(t, v4, "type ipv4_addr;", distinct(v4, m.v4));
    addSet(t, v6, "type ipv6_addr;", distinct(v6, m.v6));
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
