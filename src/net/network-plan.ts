/**
 * network-create with nova-network's semantics (manager.py `_do_create_networks` and
 * `_create_fixed_ips`), as a pure function: the range is split into `numNetworks` subnets,
 * subnets that overlap existing networks are skipped, and each subnet gets its gateway, DHCP
 * server, DHCP start and reserved addresses. Deviation from nova: non-VLAN networks are not
 * capped at 256 addresses (a /16 flat network is a normal netlet network).
 */
import type { Network } from "../model.ts";
import { conflict, invalid } from "../util/errors.ts";
import {
  cidr4Contains,
  cidr4Overlaps,
  cidr6Contains,
  cidr6Overlaps,
  formatCidr4,
  formatCidr6,
  ip4ToNum,
  ip6Offset,
  isIpv4,
  isIpv6,
  netmask4,
  numToIp4,
  parseCidr4,
  parseCidr6,
  type Cidr4,
  type Cidr6,
} from "./ip.ts";
import { checkIfName } from "./ifname.ts";

export interface NetworkCreateParams {
  label: string;
  cidr: string | null;
  cidrV6: string | null;
  numNetworks: number;
  networkSize: number | null;
  fixedCidr: string | null;
  bridge: string;
  bridgeInterface: string | null;
  vlan: number | null;
  vxlan: number | null;
  gateway: string | null;
  gatewayV6: string | null;
  dns1: string | null;
  dns2: string | null;
  mtu: number | null;
  multiHost: boolean;
  projectId: string | null;
  dhcpServer: string | null;
  allowedStart: string | null;
  allowedEnd: string | null;
  enableDhcp: boolean;
  shareAddress: boolean;
  vlanMode: boolean;
}

export interface ExistingNetwork {
  label: string;
  cidr: string | null;
  cidrV6: string | null;
  bridge: string;
  vlan: number | null;
  vxlan: number | null;
}

/** The address layout network-create decides for one subnet (the rest comes from the request). */
export interface PlannedNetwork
  extends Pick<
    Network,
    | "label"
    | "cidr"
    | "cidrV6"
    | "fixedCidr"
    | "netmask"
    | "broadcast"
    | "gateway"
    | "gatewayV6"
    | "dhcpServer"
    | "dhcpStart"
    | "vpnPrivateAddress"
    | "vlan"
  > {
  /** First and last address (numbers) that become fixed-IP rows. */
  fixedFirst: number;
  fixedLast: number;
  /** Whether an address (number) among those rows is flagged reserved. */
  reserved: (n: number) => boolean;
}

const bad = (message: string, field: string) => invalid(message, field);

function pickSubnets(range: Cidr4, count: number, size: number, taken: Cidr4[]): Cidr4[] {
  const prefix = 32 - Math.ceil(Math.log2(size));
  const step = 2 ** (32 - prefix);
  const out: Cidr4[] = [];
  for (let base = range.base; base + step <= range.base + range.size && out.length < count; base += step) {
    const s = { base, prefix, size: step };
    if (!taken.some((t) => cidr4Overlaps(t, s))) out.push(s);
  }
  return out;
}

function addrIn(field: string, value: string | null, within: Cidr4): number | null {
  if (value === null) return null;
  if (!isIpv4(value)) throw bad(`--${field} ${value} is not an IPv4 address`, field);
  const n = ip4ToNum(value);
  if (!cidr4Contains(within, n)) throw bad(`--${field} ${value} is outside ${formatCidr4(within)}`, field);
  return n;
}

function planV4(p: NetworkCreateParams, s: Cidr4): Omit<PlannedNetwork, "label" | "cidrV6" | "gatewayV6" | "vlan"> {
  const fixed = p.fixedCidr ? parseCidr4(p.fixedCidr) : s;
  if (!cidr4Contains(s, fixed.base) || !cidr4Contains(s, fixed.base + fixed.size - 1)) {
    throw bad(`--fixed-cidr ${p.fixedCidr} is not inside --fixed-range-v4 ${formatCidr4(s)}`, "fixed_cidr");
  }
  const allowedStart = addrIn("allowed-start", p.allowedStart, fixed);
  const allowedEnd = addrIn("allowed-end", p.allowedEnd, fixed);
  if (allowedStart !== null && allowedEnd !== null && allowedStart > allowedEnd) {
    throw bad(`--allowed-start ${p.allowedStart} is after --allowed-end ${p.allowedEnd}`, "allowed_start");
  }
  const gateway = addrIn("gateway", p.gateway, s) ?? allowedStart ?? s.base + 1;
  const dhcpServer = addrIn("dhcp-server", p.dhcpServer, s) ?? gateway;
  let dhcpStart = gateway + 1;
  if (dhcpStart === dhcpServer) dhcpStart += 1;
  let vpn: number | null = null;
  if (p.vlanMode) {
    vpn = dhcpStart;
    dhcpStart += 1;
  }
  const first = fixed.base;
  const last = fixed.base + fixed.size - 1;
  const reserved = isReserved({ first, last, gateway, dhcpServer, vpn, allowedStart, allowedEnd });
  return {
    cidr: formatCidr4(s),
    fixedCidr: formatCidr4(fixed),
    netmask: netmask4(s.prefix),
    broadcast: numToIp4(s.base + s.size - 1),
    gateway: numToIp4(gateway),
    dhcpServer: numToIp4(dhcpServer),
    dhcpStart: numToIp4(dhcpStart),
    vpnPrivateAddress: vpn === null ? null : numToIp4(vpn),
    fixedFirst: first,
    fixedLast: last,
    reserved,
  };
}

export interface ReservedInput {
  first: number;
  last: number;
  gateway: number | null;
  dhcpServer: number | null;
  /** VLAN mode's VPN address (its presence means a third bottom address is reserved). */
  vpn: number | null;
  allowedStart: number | null;
  allowedEnd: number | null;
}

/**
 * nova's reserved fixed IPs: the bottom two (three in VLAN mode) and the top address of the
 * fixed range, the gateway, DHCP server and VPN addresses, and everything outside
 * allowed_start..allowed_end. One rule for network-create, for a peer's network arriving, and
 * for the cluster's block allocation; a predicate, so a /16 costs nothing to describe.
 */
export function isReserved(r: ReservedInput): (n: number) => boolean {
  const fixed = new Set<number>();
  for (const n of [r.gateway, r.dhcpServer, r.vpn]) if (n !== null) fixed.add(n);
  const bottom = r.vpn !== null ? 3 : 2;
  return (n) =>
    fixed.has(n) ||
    n < r.first + bottom ||
    n >= r.last ||
    (r.allowedStart !== null && n < r.allowedStart) ||
    (r.allowedEnd !== null && n > r.allowedEnd);
}

function planV6(p: NetworkCreateParams, taken: Cidr6[]): { cidrV6: string; gatewayV6: string } | null {
  if (!p.cidrV6) return null;
  const c = parseCidr6(p.cidrV6);
  if (c.prefix !== 64)
    throw bad(`--fixed-range-v6 ${p.cidrV6} must be a /64: SLAAC (EUI-64) needs a 64-bit prefix`, "fixed_range_v6");
  const clash = taken.find((t) => cidr6Overlaps(t, c));
  if (clash)
    throw bad(`--fixed-range-v6 ${p.cidrV6} overlaps an existing network's ${formatCidr6(clash)}`, "fixed_range_v6");
  // A link-local gateway (fe80::/10) is what radvd users often announce; anything else must be on-link.
  if (p.gatewayV6 !== null && !cidr6Contains(c, p.gatewayV6) && !cidr6Contains(parseCidr6("fe80::/10"), p.gatewayV6))
    throw bad(`--gateway-v6 ${p.gatewayV6} is outside --fixed-range-v6 ${formatCidr6(c)}`, "gateway_v6");
  return { cidrV6: formatCidr6(c), gatewayV6: p.gatewayV6 ?? ip6Offset(c, 1) };
}

/** Names and addresses that are not about the range: refused before anything is planned. */
function checkFields(p: NetworkCreateParams): void {
  checkIfName("bridge", p.bridge);
  if (p.bridgeInterface !== null) checkIfName("bridge_interface", p.bridgeInterface);
  for (const [field, value] of [
    ["dns1", p.dns1],
    ["dns2", p.dns2],
  ] as const) {
    if (value !== null && !isIpv4(value) && !isIpv6(value))
      throw bad(`--${field} ${value} is not an IPv4 or IPv6 address`, field);
  }
  for (const [field, value] of [
    ["gateway", p.gateway],
    ["dhcp-server", p.dhcpServer],
    ["allowed-start", p.allowedStart],
    ["allowed-end", p.allowedEnd],
  ] as const) {
    if (value !== null && !isIpv4(value))
      throw bad(`--${field} ${value} is not an IPv4 address`, field.replace("-", "_"));
  }
  if (p.gatewayV6 !== null && !isIpv6(p.gatewayV6))
    throw bad(`--gateway-v6 ${p.gatewayV6} is not an IPv6 address`, "gateway_v6");
}

export function planNetworks(p: NetworkCreateParams, existing: ExistingNetwork[]): PlannedNetwork[] {
  if (!p.label || p.label.length > 255) throw bad("label must be 1 to 255 characters", "label");
  checkFields(p);
  if (!p.cidr && !p.cidrV6) throw bad("--fixed-range-v4 or --fixed-range-v6 is required", "fixed_range_v4");
  if (p.numNetworks < 1 || p.numNetworks > 4094) throw bad("--num-networks must be from 1 to 4094", "num_networks");
  if (p.vlan !== null && existing.some((e) => e.vlan === p.vlan))
    throw bad(`vlan ${p.vlan} is already used by another network`, "vlan");
  if (p.vxlan !== null && existing.some((e) => e.vxlan === p.vxlan))
    throw bad(`vxlan ${p.vxlan} is already used by another network`, "vxlan");
  const taken4 = existing.filter((e) => e.cidr).map((e) => parseCidr4(e.cidr!));
  const taken6 = existing.filter((e) => e.cidrV6).map((e) => parseCidr6(e.cidrV6!));
  const v6 = planV6(p, taken6);
  if (!p.cidr) {
    return [
      {
        label: p.label,
        cidr: null,
        cidrV6: v6!.cidrV6,
        gatewayV6: v6!.gatewayV6,
        fixedCidr: null,
        netmask: null,
        broadcast: null,
        gateway: null,
        dhcpServer: null,
        dhcpStart: null,
        vpnPrivateAddress: null,
        vlan: p.vlan,
        fixedFirst: 1,
        fixedLast: 0,
        reserved: () => true,
      },
    ];
  }
  let range: Cidr4;
  try {
    range = parseCidr4(p.cidr);
  } catch (e) {
    throw bad(`--fixed-range-v4 ${(e as Error).message}`, "fixed_range_v4");
  }
  if (range.prefix > 30)
    throw bad(`--fixed-range-v4 ${p.cidr} is too small: at least a /30 is needed`, "fixed_range_v4");
  const size = p.networkSize ?? Math.floor(range.size / p.numNetworks);
  if (size < 4 || size * p.numNetworks > range.size) {
    throw bad(`--fixed-range-v4 ${p.cidr} cannot hold ${p.numNetworks} networks of ${size} addresses`, "network_size");
  }
  const subnets = pickSubnets(range, p.numNetworks, size, taken4);
  if (subnets.length < p.numNetworks) {
    const clash = taken4.find((t) => cidr4Overlaps(t, range))!;
    throw conflict(`--fixed-range-v4 ${p.cidr} overlaps existing network ${formatCidr4(clash)}`, "fixed_range_v4");
  }
  return subnets.map((s, i) => ({
    label: p.numNetworks > 1 ? `${p.label}_${i}` : p.label,
    cidrV6: v6?.cidrV6 ?? null,
    gatewayV6: v6?.gatewayV6 ?? null,
    vlan: p.vlan === null ? null : p.vlan + i,
    ...planV4(p, s),
  }));
}

/** The fields of a network its reservation rule depends on. */
export interface ReservationFields {
  fixedCidr: string | null;
  gateway: string | null;
  dhcpServer: string | null;
  vpnPrivateAddress: string | null;
  allowedStart: string | null;
  allowedEnd: string | null;
}

/** The reservation rule of an existing network, from its own fields. */
export function reservedOf(net: ReservationFields): (n: number) => boolean {
  if (!net.fixedCidr) return () => true;
  const c = parseCidr4(net.fixedCidr);
  const num = (a: string | null) => (a ? ip4ToNum(a) : null);
  return isReserved({
    first: c.base,
    last: c.base + c.size - 1,
    gateway: num(net.gateway),
    dhcpServer: num(net.dhcpServer),
    vpn: num(net.vpnPrivateAddress),
    allowedStart: num(net.allowedStart),
    allowedEnd: num(net.allowedEnd),
  });
}
