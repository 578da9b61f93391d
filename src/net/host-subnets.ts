/**
 * This host's own subnets (the addresses on its interfaces) and the overlap checks that keep
 * fixed networks and floating ranges off them: a range that overlaps the host's uplink or
 * management subnet would hand out, or plumb, addresses that already belong to someone.
 */
import {
  cidr4Contains,
  cidr4Overlaps,
  ip4ToNum,
  numToIp4,
  cidr6Overlaps,
  formatCidr4,
  formatCidr6,
  isIpv4,
  parseCidr4,
  parseCidr6,
  type Cidr4,
} from "./ip.ts";

export interface HostSubnet {
  iface: string;
  /** The host's address on it. */
  address: string;
  /** Network CIDR, e.g. 192.0.2.0/24. */
  cidr: string;
  /** The interface is a Linux bridge (its subnet is a segment of guests or containers, not an uplink). */
  bridge?: boolean;
  /** Routers of this host's routes through the interface that lie in this subnet (e.g. the default gateway). */
  gateways?: string[];
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

/**
 * Why an IPv4 floating range may not be created on this host, or null. Carving the pool out of
 * the subnet of its own interface (public_interface) is nova's usual layout and stays allowed,
 * but not over an address in use there: the host's own, a router of its routes (the default
 * gateway), the subnet's network or broadcast address. Another bridge's subnet is a segment of
 * guests or containers: a floating IP there would shadow one of them.
 */
export function floatingRangeClash(range: Cidr4, poolIface: string, hosts: readonly HostSubnet[]): string | null {
  const v4 = hosts.filter((h) => isIpv4(h.address));
  const own = hostAddressIn4(range, v4);
  if (own) return `contains this host's own address ${own.address} on ${own.iface}`;
  for (const h of v4) {
    const c = parseCidr4(h.cidr);
    if (!cidr4Overlaps(c, range)) continue;
    const gw = (h.gateways ?? []).find((g) => cidr4Contains(range, ip4ToNum(g)));
    if (gw) return `contains ${gw}, the gateway of this host's subnet ${h.cidr} on ${h.iface}`;
    if (c.prefix < 31) {
      if (cidr4Contains(range, c.base))
        return `contains ${numToIp4(c.base)}, the network address of this host's subnet ${h.cidr} on ${h.iface}`;
      const last = c.base + c.size - 1;
      if (cidr4Contains(range, last))
        return `contains ${numToIp4(last)}, the broadcast address of this host's subnet ${h.cidr} on ${h.iface}`;
    }
    if (h.bridge && h.iface !== poolIface) return `overlaps bridge ${h.iface}'s subnet ${h.cidr} on this host`;
  }
  return null;
}
