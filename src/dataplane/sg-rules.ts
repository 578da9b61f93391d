/**
 * Security-group rule → match text, shared by the nftables and iptables renderers. Semantics
 * follow nova's IptablesFirewallDriver: protocol lower-cased, `icmp` on IPv6 means ICMPv6, a
 * single port or a range, icmp type/code with -1 meaning any, CIDR or source-group peers — plus
 * egress rules, where the peer is the destination.
 */
import ipaddr from "ipaddr.js";
import type { GroupSpec, InstanceOnHost, RuleSpec } from "./desired.ts";

export type IpFamily = 4 | 6;

const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const DOTTED_QUAD = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

export function familyOf(rule: RuleSpec): IpFamily {
  return rule.ethertype === "IPv6" ? 6 : 4;
}

/** Family of an address or CIDR text, or null when it does not parse. */
export function addrFamily(text: string): IpFamily | null {
  const bare = text.split("/")[0];
  // Plain dotted-quad text is decided without a parse (floating IPs of a large host are checked on
  // every pass); anything else, e.g. leading zeros or IPv6, goes to ipaddr.js.
  if (DOTTED_QUAD.test(bare)) return 4;
  if (!ipaddr.isValid(bare)) return null;
  return ipaddr.parse(bare).kind() === "ipv6" ? 6 : 4;
}

/** True when the rule can be rendered (ports in range, CIDR of the rule's family). */
export function ruleValid(r: RuleSpec): boolean {
  if (r.cidr !== null) {
    if (!ipaddr.isValidCIDR(r.cidr) || addrFamily(r.cidr) !== familyOf(r)) return false;
  }
  if (r.protocol === "tcp" || r.protocol === "udp") {
    const ok = (p: number) => Number.isInteger(p) && p >= -1 && p <= 65535;
    return ok(r.fromPort) && ok(r.toPort) && (r.fromPort <= r.toPort || r.fromPort === -1);
  }
  if (r.protocol === "icmp") {
    const ok = (p: number) => Number.isInteger(p) && p >= -1 && p <= 255;
    return ok(r.fromPort) && ok(r.toPort);
  }
  return r.protocol === "any";
}

/** True when the CIDR matches every address (no address match needed). */
export function isAnyCidr(cidr: string): boolean {
  return cidr.endsWith("/0");
}

/** Port part of a rule in nft syntax, or "" for any port. */
export function nftPorts(r: RuleSpec): string {
  if (r.protocol === "tcp" || r.protocol === "udp") {
    if (r.fromPort === -1 || (r.fromPort <= 1 && r.toPort >= 65535)) return `meta l4proto ${r.protocol}`;
    if (r.fromPort === r.toPort) return `${r.protocol} dport ${r.fromPort}`;
    return `${r.protocol} dport ${r.fromPort}-${r.toPort}`;
  }
  if (r.protocol === "icmp") {
    const proto = familyOf(r) === 6 ? "icmpv6" : "icmp";
    if (r.fromPort === -1) return `meta l4proto ${familyOf(r) === 6 ? "ipv6-icmp" : "icmp"}`;
    const code = r.toPort === -1 ? "" : ` ${proto} code ${r.toPort}`;
    return `${proto} type ${r.fromPort}${code}`;
  }
  return "";
}

/** Groups by id, for lookups. */
export function groupIndex(groups: GroupSpec[]): Map<string, GroupSpec> {
  return new Map(groups.map((g) => [g.id, g]));
}

/** Groups used by local instances, in first-use order. */
export function usedGroups(instances: InstanceOnHost[], groups: Map<string, GroupSpec>): GroupSpec[] {
  const seen = new Map<string, GroupSpec>();
  for (const i of instances)
    for (const id of i.groups) {
      const g = groups.get(id);
      if (g && !seen.has(id)) seen.set(id, g);
    }
  return [...seen.values()];
}

export function hasEgress(g: GroupSpec): boolean {
  return g.rules.some((r) => r.direction === "egress");
}

/** Group ids referenced as a peer by any rule of the given groups. */
export function sourceGroups(groups: GroupSpec[]): string[] {
  const out = new Set<string>();
  for (const g of groups) for (const r of g.rules) if (r.sourceGroupId && r.cidr === null) out.add(r.sourceGroupId);
  return [...out];
}

/**
 * An instance's filtering profile: its groups (in order) and its networks. Instances with the
 * same profile share one chain, so the table grows with distinct profiles, not instances, and
 * adding an instance of a known profile is map elements only.
 */
export function profileKey(inst: InstanceOnHost): string {
  return `${inst.groups.join(",")}|${networksOf(inst).join(",")}`;
}

/** The instance's network ids, sorted, each once. */
export function networksOf(inst: InstanceOnHost): string[] {
  // Most instances have one VIF: no set, no sort (this runs for every instance of a cold render).
  if (inst.vifs.length === 1) return [inst.vifs[0].networkId];
  return [...new Set(inst.vifs.map((v) => v.networkId))].sort();
}
