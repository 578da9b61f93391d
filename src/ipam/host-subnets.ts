/**
 * This host's own subnets (the addresses on its interfaces) and the overlap checks that keep
 * fixed networks and floating ranges off them: a range that overlaps the host's uplink or
 * management subnet would hand out, or plumb, addresses that already belong to someone.
 */
import { networkInterfaces } from "node:os";
import {
  cidr4Contains,
  cidr4Overlaps,
  ip4ToNum,
  cidr6Overlaps,
  formatCidr4,
  formatCidr6,
  isIpv4,
  parseCidr4,
  parseCidr6,
  type Cidr4,
} from "../net/ip.ts";

export interface HostSubnet {
  iface: string;
  /** The host's address on it. */
  address: string;
  /** Network CIDR, e.g. 192.0.2.0/24. */
  cidr: string;
}

/**
 * The subnets on this namespace's interfaces, leaving out loopback, link-local and the
 * interfaces in `skip` (the bridges netlet itself addresses for its networks).
 */
export function readHostSubnets(skip: ReadonlySet<string>): HostSubnet[] {
  const out: HostSubnet[] = [];
  for (const [iface, addrs] of Object.entries(networkInterfaces())) {
    if (skip.has(iface)) continue;
    for (const a of addrs ?? []) {
      if (a.internal || !a.cidr || a.address.startsWith("fe80:") || a.address.startsWith("169.254.")) continue;
      try {
        const net = a.family === "IPv4" ? formatCidr4(parseCidr4(a.cidr)) : formatCidr6(parseCidr6(a.cidr));
        out.push({ iface, address: a.address, cidr: net });
      } catch {
        // An address the parser refuses is not one a range can collide with.
      }
    }
  }
  return out;
}

/** The host subnet an IPv4 range overlaps, if any. */
export function hostClash4(range: Cidr4, hosts: readonly HostSubnet[]): HostSubnet | undefined {
  return hosts.find((h) => isIpv4(h.cidr.split("/")[0]) && cidr4Overlaps(parseCidr4(h.cidr), range));
}

/**
 * The host address an IPv4 range contains, if any. Floating ranges are checked against the
 * host's addresses, not its subnets: a pool carved from the public interface's subnet is
 * nova's usual layout, but a pool holding the host's own address would give it away.
 */
export function hostAddressIn4(range: Cidr4, hosts: readonly HostSubnet[]): HostSubnet | undefined {
  return hosts.find((h) => isIpv4(h.address) && cidr4Contains(range, ip4ToNum(h.address)));
}

/** The host subnet an IPv6 prefix overlaps, if any. */
export function hostClash6(prefix: string, hosts: readonly HostSubnet[]): HostSubnet | undefined {
  const p = parseCidr6(prefix);
  return hosts.find((h) => !isIpv4(h.cidr.split("/")[0]) && cidr6Overlaps(parseCidr6(h.cidr), p));
}
