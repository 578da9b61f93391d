/**
 * Builds the DHCP host table of one bridge from store records, as nova wrote dnsmasq's hosts and
 * opts files (nova-reference §2.8): one entry per allocated fixed IP of an instance on this
 * node, first occurrence per MAC; hostnames shortened to 63; in multi_host (without
 * share_address) the gateway is this node's own address on the bridge; with
 * use_single_default_gateway only an instance's first NIC gets a router.
 */
import ipaddr from "ipaddr.js";
import type { Instance, Network, Vif } from "../model.ts";
import type { DhcpHost } from "./host.ts";
import type { BridgeHosts } from "./service.ts";

export interface DhcpSettings {
  /** nova dhcp_domain (option 15 and the suffix of option 12). */
  dhcpDomain: string | null;
  /** nova dhcp_lease_time, seconds. */
  dhcpLeaseTime: number;
  /** nova dns_server: handed to every instance before the network's dns1/dns2. */
  dnsServer: string[];
  useSingleDefaultGateway: boolean;
  /** Metadata address routed as a /32 via the gateway (option 121), e.g. 169.254.169.254; null for none. */
  metadataAddress: string | null;
}

export interface BridgeInput {
  network: Network;
  /** This node's address on the bridge: option 54, and the gateway in multi_host. */
  serverAddress: string;
  /** The network's vifs hosted on this node. */
  vifs: readonly Vif[];
  instances: ReadonlyMap<string, Instance>;
}

function gatewayOf(net: Network, serverAddress: string): string | null {
  return net.multiHost && !net.shareAddress ? serverAddress : net.gateway;
}

function dnsOf(net: Network, s: DhcpSettings, gateway: string | null, serverAddress: string): string[] {
  if (s.dnsServer.length) return [...s.dnsServer];
  const own = [net.dns1, net.dns2].filter((d): d is string => !!d);
  return own.length ? own : [gateway ?? serverAddress];
}

export function dhcpBridge(input: BridgeInput, s: DhcpSettings): BridgeHosts {
  const { network: net, serverAddress } = input;
  if (!net.cidr || !net.enableDhcp) return { bridge: net.bridge, hosts: [] };
  const prefixLength = ipaddr.IPv4.parseCIDR(net.cidr)[1];
  const gateway = gatewayOf(net, serverAddress);
  const dnsServers = dnsOf(net, s, gateway, serverAddress);
  const seen = new Set<string>();
  const hosts: DhcpHost[] = [];
  for (const vif of input.vifs) {
    const inst = input.instances.get(vif.instanceUuid);
    const mac = vif.mac.toLowerCase();
    if (vif.deleted || !vif.address || vif.networkId !== net.id || !inst || inst.deleted || seen.has(mac)) continue;
    seen.add(mac);
    const primary = !s.useSingleDefaultGateway || vif.index === 0;
    hosts.push({
      mac,
      networkId: net.id,
      address: vif.address,
      prefixLength,
      router: gateway,
      dnsServers,
      hostname: inst.hostname || null,
      domain: s.dhcpDomain,
      searchDomains: s.dhcpDomain ? [s.dhcpDomain] : [],
      mtu: net.mtu,
      serverId: serverAddress,
      leaseTime: s.dhcpLeaseTime,
      classlessRoutes: s.metadataAddress && gateway && primary ? [{ destination: `${s.metadataAddress}/32`, gateway }] : [],
      primary,
    });
  }
  return { bridge: net.bridge, hosts };
}
