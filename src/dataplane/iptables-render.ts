/**
 * The `iptables` driver: the same NAT and security-group behaviour as the nftables tables, as
 * `iptables-restore --noflush` / `ip6tables-restore --noflush` input with nova-style wrapped
 * chains `netlet-…`. Declaring a chain in --noflush mode flushes only that chain, so foreign
 * chains and rules are never touched; the jumps from built-in chains are added only when
 * missing (the caller passes what `iptables-save` shows). Anti-spoofing stays in the nft bridge
 * table under this driver (iptables cannot see ARP), as libvirt's nwfilter used ebtables.
 */
import type { DesiredState, GroupSpec, InstanceOnHost, RuleSpec } from "./desired.ts";
import { shortKey } from "./desired.ts";
import { METADATA_IP } from "./nft-nat.ts";
import {
  addrFamily,
  familyOf,
  groupIndex,
  hasEgress,
  isAnyCidr,
  profileKey,
  ruleValid,
  usedGroups,
} from "./sg-rules.ts";

export const PREFIX = "netlet-";

/** What `iptables-save` shows of netlet: its chains and the jumps into them, per table. */
export interface IptablesExisting {
  /** `table chain`, e.g. `nat netlet-snat`. */
  chains: Set<string>;
  /** `table BUILTIN target`, e.g. `nat PREROUTING netlet-PREROUTING`. */
  jumps: Set<string>;
  /** Rule count per `table chain` for netlet chains (drift detection). */
  rules: Map<string, number>;
}

/** One table's chains in order, each with its rule texts (without `-A chain`). */
type Chains = Map<string, string[]>;

export const JUMPS: Record<string, [string, string][]> = {
  nat: [
    ["PREROUTING", "netlet-PREROUTING"],
    ["OUTPUT", "netlet-OUTPUT"],
    ["POSTROUTING", "netlet-POSTROUTING"],
  ],
  filter: [
    ["FORWARD", "netlet-FORWARD"],
    ["OUTPUT", "netlet-OUTPUT"],
  ],
};

const v4 = (a: string | null): a is string => !!a && addrFamily(a) === 4;
const host = (a: string, fam: 4 | 6) => (a.includes("/") ? a : `${a}/${fam === 4 ? 32 : 128}`);

/** Per-profile chains (groups + networks), shared by the instances with that profile. */
export const ipChainIn = (inst: InstanceOnHost) => `${PREFIX}p-${shortKey(profileKey(inst))}-i`;
export const ipChainOut = (inst: InstanceOnHost) => `${PREFIX}p-${shortKey(profileKey(inst))}-o`;
const ipGroupChain = (id: string) => `${PREFIX}g-${shortKey(id)}-i`;

function natChains(d: DesiredState): Chains {
  const c = d.config;
  const snat = c.routingSourceIp ? `-j SNAT --to-source ${c.routingSourceIp}` : "-j MASQUERADE";
  const pre: string[] = [],
    out: string[] = [],
    post: string[] = [],
    sn: string[] = ["-j netlet-float-snat"],
    fs: string[] = [];
  const nets = d.networks.filter((n) => v4(n.cidr));
  for (const n of nets) {
    const target = c.metadataHost ?? n.hostAddress;
    if (!target) continue;
    const verdict =
      target === "127.0.0.1"
        ? `-j REDIRECT --to-ports ${c.metadataPort}`
        : `-j DNAT --to-destination ${target}:${c.metadataPort}`;
    pre.push(`-i ${n.bridge} -d ${METADATA_IP}/32 -p tcp -m tcp --dport 80 ${verdict}`);
  }
  for (const n of nets) {
    if (v4(c.metadataHost)) post.push(`-s ${n.cidr} -d ${c.metadataHost}/32 -j ACCEPT`);
    for (const z of c.dmzCidr.filter(v4)) post.push(`-s ${n.cidr} -d ${z} -j ACCEPT`);
    post.push(`-s ${n.cidr} -d ${n.cidr} -m conntrack ! --ctstate DNAT -j ACCEPT`);
  }
  for (const f of d.floatingIps.filter((f) => v4(f.address) && v4(f.fixedAddress))) {
    pre.push(`-d ${f.address}/32 -j DNAT --to-destination ${f.fixedAddress}`);
    out.push(`-d ${f.address}/32 -j DNAT --to-destination ${f.fixedAddress}`);
    post.push(`-s ${f.fixedAddress}/32 -m conntrack --ctstate DNAT -j SNAT --to-source ${f.address}`);
    fs.push(`-s ${f.fixedAddress}/32 -o ${f.interface} -j SNAT --to-source ${f.address}`);
  }
  post.push("-j netlet-snat");
  for (const n of nets) {
    for (const r of c.forceSnatRange.filter(v4)) sn.push(`-s ${n.cidr} -d ${r} ${snat}`);
    sn.push(`-s ${n.cidr}${c.publicInterface ? ` -o ${c.publicInterface}` : ""} ${snat}`);
  }
  return new Map([
    ["netlet-PREROUTING", pre],
    ["netlet-OUTPUT", out],
    ["netlet-POSTROUTING", post],
    ["netlet-snat", sn],
    ["netlet-float-snat", fs],
  ]);
}

/** One group rule as iptables match text (without target), or null when it cannot apply. */
export function iptRuleMatch(r: RuleSpec, members: string[]): string[] {
  if (!ruleValid(r)) return [];
  const fam = familyOf(r);
  const peerFlag = r.direction === "ingress" ? "-s" : "-d";
  let peers: string[] = [""];
  if (r.cidr !== null) peers = isAnyCidr(r.cidr) ? [""] : [`${peerFlag} ${r.cidr} `];
  else if (r.sourceGroupId) peers = members.map((m) => `${peerFlag} ${host(m, fam)} `); // nova: one rule per member
  let proto = "";
  if (r.protocol === "tcp" || r.protocol === "udp") {
    const any = r.fromPort === -1 || (r.fromPort <= 1 && r.toPort >= 65535);
    const port = r.fromPort === r.toPort ? `${r.fromPort}` : `${r.fromPort}:${r.toPort}`;
    proto = any ? `-p ${r.protocol} ` : `-p ${r.protocol} -m ${r.protocol} --dport ${port} `;
  } else if (r.protocol === "icmp") {
    const p = fam === 6 ? "ipv6-icmp" : "icmp";
    const m = fam === 6 ? "-m icmp6 --icmpv6-type" : "-m icmp --icmp-type";
    const t = r.fromPort === -1 ? "" : ` ${m} ${r.fromPort}${r.toPort === -1 ? "" : `/${r.toPort}`}`;
    proto = `-p ${p}${t} `;
  }
  return peers.map((p) => `${p}${proto}`.trimEnd());
}

function membersOf(d: DesiredState, r: RuleSpec): string[] {
  const m = r.sourceGroupId ? d.members[r.sourceGroupId] : undefined;
  return m ? [...new Set(familyOf(r) === 4 ? m.v4 : m.v6)] : [];
}

function groupRules(d: DesiredState, g: GroupSpec, dir: "ingress" | "egress", fam: 4 | 6, target: string): string[] {
  return g.rules
    .filter((r) => r.direction === dir && familyOf(r) === fam)
    .flatMap((r) => iptRuleMatch(r, membersOf(d, r)).map((m) => `${m} ${target}`.trim()));
}

function addrsOf(inst: InstanceOnHost, fam: 4 | 6): string[] {
  return inst.vifs.map((v) => (fam === 4 ? v.ipv4 : v.ipv6)).filter((x): x is string => !!x);
}

function filterChains(d: DesiredState, fam: 4 | 6): Chains {
  const chains: Chains = new Map();
  const groups = groupIndex(d.groups);
  const nets = new Map([...d.networks, ...d.standby].map((n) => [n.id, n]));
  const head = ["-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"];
  // Neighbour discovery is untracked by conntrack.
  if (fam === 6) head.push("-p ipv6-icmp -m conntrack --ctstate UNTRACKED -j ACCEPT");
  const fwd = [...head],
    out = [...head];
  chains.set("netlet-FORWARD", fwd).set("netlet-OUTPUT", out);
  chains
    .set("netlet-drop-invalid", ["-j DROP"])
    .set("netlet-drop-ingress", ["-j DROP"])
    .set("netlet-drop-egress", ["-j DROP"]);
  for (const g of usedGroups(d.instances, groups))
    chains.set(ipGroupChain(g.id), groupRules(d, g, "ingress", fam, "-j ACCEPT"));
  const egress: string[] = [],
    ingress: string[] = [];
  for (const inst of d.instances) {
    const addrs = addrsOf(inst, fam);
    if (chains.has(ipChainIn(inst))) {
      for (const a of addrs) {
        if (chains.has(ipChainOut(inst))) egress.push(`-s ${host(a, fam)} -j ${ipChainOut(inst)}`);
        ingress.push(`-d ${host(a, fam)} -j ${ipChainIn(inst)}`);
      }
      continue;
    }
    const inRules = ["-m conntrack --ctstate INVALID -j netlet-drop-invalid"];
    for (const v of inst.vifs) {
      const n = nets.get(v.networkId);
      if (!n) continue;
      const server = n.hostAddress ?? n.remoteServer;
      if (fam === 4 && v4(server)) inRules.push(`-s ${server}/32 -p udp -m udp --sport 67 --dport 68 -j ACCEPT`);
      const cidr = fam === 4 ? n.cidr : n.cidrV6;
      if (d.config.allowSameNetTraffic && cidr) inRules.push(`-s ${cidr} -j ACCEPT`);
    }
    for (const id of inst.groups) if (groups.has(id)) inRules.push(`-j ${ipGroupChain(id)}`);
    inRules.push("-j netlet-drop-ingress");
    chains.set(ipChainIn(inst), inRules);
    const eg = inst.groups.map((id) => groups.get(id)).filter((g): g is GroupSpec => !!g && hasEgress(g));
    // Egress rules RETURN to netlet-FORWARD so that the destination's ingress check still runs.
    if (eg.length > 0 && !chains.has(ipChainOut(inst)))
      chains.set(ipChainOut(inst), [
        ...eg.flatMap((g) => groupRules(d, g, "egress", fam, "-j RETURN")),
        "-j netlet-drop-egress",
      ]);
    for (const a of addrs) {
      if (eg.length > 0) egress.push(`-s ${host(a, fam)} -j ${ipChainOut(inst)}`);
      ingress.push(`-d ${host(a, fam)} -j ${ipChainIn(inst)}`);
    }
  }
  // Every egress check comes before any ingress jump: an ACCEPT ends the whole chain.
  fwd.push(...egress, ...ingress);
  out.push(...ingress);
  return chains;
}

function renderTable(table: string, chains: Chains, ex: IptablesExisting, out: string[]): void {
  out.push(`*${table}`);
  for (const name of chains.keys()) out.push(`:${name} - [0:0]`);
  const stale = [...ex.chains]
    .filter((c) => c.startsWith(`${table} `))
    .map((c) => c.slice(table.length + 1))
    .filter((c) => !chains.has(c));
  for (const name of stale) out.push(`:${name} - [0:0]`);
  for (const [builtin, target] of JUMPS[table] ?? []) {
    if (chains.has(target) && !ex.jumps.has(`${table} ${builtin} ${target}`)) out.push(`-I ${builtin} 1 -j ${target}`);
  }
  for (const [name, rules] of chains) for (const r of rules) out.push(`-A ${name} ${r}`);
  for (const name of stale) out.push(`-X ${name}`);
  out.push("COMMIT");
}

export interface IptablesPayload {
  v4: string;
  v6: string;
}

export const emptyExisting = (): IptablesExisting => ({ chains: new Set(), jumps: new Set(), rules: new Map() });

/** Desired chains per table and family (also used for drift checks and `show`). */
export function iptablesChains(d: DesiredState): { v4: Record<string, Chains>; v6: Record<string, Chains> } {
  return { v4: { nat: natChains(d), filter: filterChains(d, 4) }, v6: { filter: filterChains(d, 6) } };
}

/** Full sync for the iptables driver, given what iptables-save / ip6tables-save show. */
export function renderIptables(d: DesiredState, ex4: IptablesExisting, ex6: IptablesExisting): IptablesPayload {
  const c = iptablesChains(d);
  const v4: string[] = [],
    v6: string[] = [];
  renderTable("nat", c.v4.nat, ex4, v4);
  renderTable("filter", c.v4.filter, ex4, v4);
  renderTable("filter", c.v6.filter, ex6, v6);
  return { v4: `${v4.join("\n")}\n`, v6: `${v6.join("\n")}\n` };
}

/** Remove every netlet chain and jump (driver switched away from iptables). */
export function renderIptablesTeardown(ex: IptablesExisting, tables: string[]): string {
  const out: string[] = [];
  for (const table of tables) {
    const mine = [...ex.chains].filter((c) => c.startsWith(`${table} `)).map((c) => c.slice(table.length + 1));
    if (mine.length === 0) continue;
    out.push(`*${table}`);
    for (const name of mine) out.push(`:${name} - [0:0]`);
    for (const j of ex.jumps) {
      const [t, builtin, target] = j.split(" ");
      if (t === table) out.push(`-D ${builtin} -j ${target}`);
    }
    for (const name of mine) out.push(`-X ${name}`);
    out.push("COMMIT");
  }
  return out.length ? `${out.join("\n")}\n` : "";
}

/** Parse `iptables-save` output into what netlet owns there. */
export function parseSave(text: string): IptablesExisting {
  const ex = emptyExisting();
  let table = "";
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) table = line.slice(1).trim();
    else if (line.startsWith(`:${PREFIX}`)) ex.chains.add(`${table} ${line.slice(1).split(" ")[0]}`);
    else if (line.startsWith("-A ")) {
      const [, chain, ...rest] = line.split(" ");
      if (chain.startsWith(PREFIX)) ex.rules.set(`${table} ${chain}`, (ex.rules.get(`${table} ${chain}`) ?? 0) + 1);
      else if (rest.length === 2 && rest[0] === "-j" && rest[1].startsWith(PREFIX))
        ex.jumps.add(`${table} ${chain} ${rest[1]}`);
    }
  }
  return ex;
}
