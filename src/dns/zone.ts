/**
 * The instance zone: every live instance of the cluster by `hostname.<dhcp_domain>`, and the
 * reverse names of their fixed and floating addresses. Built from the store's replicated rows on
 * each reconcile pass, so a boot, rename or delete anywhere in the cluster shows at once.
 * Every record keeps its instance's project: a guest on a project's network sees its own
 * project's instances only; a guest on a shared network (no project) sees all of them.
 * Pure data: lookups are Map reads on lower-case names without the trailing dot.
 */
import ipaddr from "ipaddr.js";

export interface ZoneInstance {
  hostname: string;
  project: string;
  /** Fixed IPv4 and IPv6 addresses of its NICs, NIC order. */
  v4: string[];
  v6: string[];
  /** Floating IPs, answered in PTR only (the instance's public name). */
  floating: string[];
}

export interface Zone {
  /** Lower-case domain, e.g. "novalocal"; "" when dhcp_domain is unset (bare names only). */
  domain: string;
  /** name → one record per instance of that name; names are "host.domain" and, for single-label queries, "host". */
  names: Map<string, ZoneRecord[]>;
  /** Reverse name ("4.3.2.1.in-addr.arpa") → target ("host.domain") and its project. */
  ptr: Map<string, { target: string; project: string }>;
  /** Prefixes whose reverse names this server is authoritative for (served networks). */
  reverseNets: [ipaddr.IPv4 | ipaddr.IPv6, number][];
  /** SOA serial: changes whenever the zone does. */
  serial: number;
}

export interface ZoneRecord {
  project: string;
  v4: string[];
  v6: string[];
}

/** Whether a guest whose network belongs to `viewer` (null: a shared network) may see `project`'s names. */
export const visible = (viewer: string | null, project: string) => viewer === null || viewer === project;

/** RFC 1123 label rules, lower-cased; a hostname that is not a valid DNS name is left out. */
export function dnsLabel(hostname: string): string | null {
  const h = hostname.toLowerCase();
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(h) ? h : null;
}

export function reverseName(address: string): string {
  const a = ipaddr.parse(address);
  if (a.kind() === "ipv4") return `${a.toByteArray().reverse().join(".")}.in-addr.arpa`;
  const hex = a
    .toByteArray()
    .flatMap((b) => [b >> 4, b & 15])
    .reverse()
    .map((n) => n.toString(16));
  return `${hex.join(".")}.ip6.arpa`;
}

/** The address a complete reverse name stands for; null for partial or malformed names. */
export function addressOfReverse(name: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  const labels = name.split(".");
  if (name.endsWith(".in-addr.arpa") && labels.length === 6) {
    const parts = labels.slice(0, 4).reverse();
    if (!parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) < 256)) return null;
    return ipaddr.IPv4.parse(parts.join("."));
  }
  if (name.endsWith(".ip6.arpa") && labels.length === 34) {
    const nibbles = labels.slice(0, 32).reverse();
    if (!nibbles.every((n) => /^[0-9a-f]$/.test(n))) return null;
    const groups = [];
    for (let i = 0; i < 32; i += 4) groups.push(nibbles.slice(i, i + 4).join(""));
    return ipaddr.IPv6.parse(groups.join(":"));
  }
  return null;
}

export function buildZone(
  domain: string,
  instances: readonly ZoneInstance[],
  networks: readonly string[],
  serial: number,
): Zone {
  const d = domain.toLowerCase().replace(/\.$/, "");
  const names = new Map<string, ZoneRecord[]>();
  const ptr = new Map<string, { target: string; project: string }>();
  const add = (name: string, i: ZoneInstance) => {
    const list = names.get(name) ?? [];
    list.push({ project: i.project, v4: i.v4, v6: i.v6 });
    names.set(name, list);
  };
  for (const i of instances) {
    const label = dnsLabel(i.hostname);
    if (!label) continue;
    const fqdn = d ? `${label}.${d}` : label;
    add(fqdn, i);
    if (d) add(label, i);
    for (const a of [...i.v4, ...i.v6, ...i.floating]) {
      if (!ipaddr.isValid(a)) continue;
      const r = reverseName(a);
      // Two instances claiming one address (a stale row): the first keeps it, as the store orders.
      if (!ptr.has(r)) ptr.set(r, { target: fqdn, project: i.project });
    }
  }
  const reverseNets: [ipaddr.IPv4 | ipaddr.IPv6, number][] = [];
  for (const n of networks) {
    try {
      reverseNets.push(ipaddr.parseCIDR(n));
    } catch {
      // A malformed CIDR in the store only loses its reverse authority.
    }
  }
  return { domain: d, names, ptr, reverseNets, serial };
}

/** True when `name` is the zone apex or below it. */
export function inZone(z: Zone, name: string): boolean {
  return z.domain !== "" && (name === z.domain || name.endsWith(`.${z.domain}`));
}

/** True when the reverse name is for an address of a served network (authoritative NXDOMAIN). */
export function inReverse(z: Zone, name: string): boolean {
  const a = addressOfReverse(name);
  if (!a) return false;
  return z.reverseNets.some(([net, len]) => net.kind() === a.kind() && a.match(net, len));
}
