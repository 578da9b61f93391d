/**
 * network_data.json for the instance's NICs (nova `get_network_metadata`, nova-reference §1.8),
 * shaped as nova-network produced it: links `interface<N>` of type `bridge`, one IPv4 and one
 * IPv6 network entry per NIC, deduplicated DNS services. Differences from nova-network, by
 * design: the network's MTU is published on the link, and IPv6 is `ipv6_slaac` on networks
 * where our RA daemon advertises the prefix (enable_dhcp), static otherwise.
 */
import ipaddr from "ipaddr.js";
import type { Network } from "../model.ts";
import { sortedVifs } from "./ec2.ts";
import type { InstanceView } from "./source.ts";

interface Route {
  network: string;
  netmask: string;
  gateway: string;
}

export function networkData(view: InstanceView): Record<string, unknown> {
  if (view.vifs.length === 0) return {};
  const links: unknown[] = [];
  const networks: unknown[] = [];
  const dns: string[] = [];
  for (const [n, { vif, network }] of sortedVifs(view).entries()) {
    const link = `interface${n}`;
    links.push({ id: link, vif_id: vif.id, type: "bridge", mtu: network.mtu ?? null, ethernet_mac_address: vif.mac });
    if (vif.address && network.cidr) networks.push(ipv4Entry(networks.length, link, vif.address, network));
    if (vif.addressV6 && network.cidrV6) networks.push(ipv6Entry(networks.length, link, vif.addressV6, network));
    for (const d of [network.dns1, network.dns2]) if (d && !dns.includes(d)) dns.push(d);
  }
  return { links, networks, services: dns.map((address) => ({ type: "dns", address })) };
}

function ipv4Entry(m: number, link: string, address: string, net: Network): Record<string, unknown> {
  const base = { id: `network${m}`, link, network_id: net.id };
  if (net.enableDhcp) return { ...base, type: "ipv4_dhcp" };
  const netmask = net.netmask ?? prefixMask(net.cidr!);
  const routes: Route[] = net.gateway ? [{ network: "0.0.0.0", netmask: "0.0.0.0", gateway: net.gateway }] : [];
  return { ...base, type: "ipv4", ip_address: address, netmask, routes };
}

function ipv6Entry(m: number, link: string, address: string, net: Network): Record<string, unknown> {
  const base = { id: `network${m}`, link, network_id: net.id };
  if (net.enableDhcp) return { ...base, type: "ipv6_slaac" };
  const routes: Route[] = net.gatewayV6 ? [{ network: "::", netmask: "::", gateway: net.gatewayV6 }] : [];
  return { ...base, type: "ipv6", ip_address: address, netmask: prefixMask(net.cidrV6!), routes };
}

/** Dotted (v4) or colon (v6) netmask of a CIDR's prefix length. */
function prefixMask(cidr: string): string {
  const [addr, len] = ipaddr.parseCIDR(cidr);
  return addr.kind() === "ipv4"
    ? ipaddr.IPv4.subnetMaskFromPrefixLength(len).toString()
    : ipaddr.IPv6.subnetMaskFromPrefixLength(len).toString();
}
