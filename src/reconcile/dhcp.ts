/**
 * HostView → the DHCP server's host tables: one entry per local VIF on a DHCP-enabled IPv4
 * network, answered with this host's address as router and server id (multi_host), the network's
 * DNS servers, nova's hostname/domain and the metadata route. On a network this host serves as
 * its associated host, the VIFs of every host are answered (the others only bridge it).
 */
import type { BridgeHosts } from "../dhcp/service.ts";
import type { DhcpHost } from "../dhcp/host.ts";
import type { Instance, Vif } from "../model.ts";
import type { HostView } from "./host-view.ts";
import { isIpv4 } from "../net/ip.ts";

export const METADATA_ADDRESS = "169.254.169.254";

export function dhcpBridges(view: HostView): BridgeHosts[] {
  const { config } = view;
  const byBridge = new Map<string, DhcpHost[]>();
  for (const { instance, vifs } of answered(view)) {
    for (const vif of vifs) {
      const s = view.served.find((x) => x.network.id === vif.networkId);
      if (!s || !vif.address || !s.hostAddress || !s.prefixLength || !s.network.enableDhcp) continue;
      const net = s.network;
      const primary = vif.index === 0;
      const router = config.useSingleDefaultGateway && !primary ? null : s.hostAddress;
      // With the DNS service on, the guest asks this host, which forwards to those servers.
      // DHCPv4 option 6 carries IPv4 servers only; IPv6 ones reach guests through RDNSS.
      const upstream = (config.dnsServer.length ? config.dnsServer : [net.dns1, net.dns2]).filter(
        (d): d is string => !!d && isIpv4(d),
      );
      const dns = config.dnsService ? [s.hostAddress] : upstream;
      const hosts = byBridge.get(net.bridge) ?? [];
      hosts.push({
        mac: vif.mac,
        networkId: net.id,
        address: vif.address,
        prefixLength: s.prefixLength,
        router,
        dnsServers: dns.length ? dns : [s.hostAddress],
        hostname: instance.hostname,
        domain: config.dhcpDomain || null,
        searchDomains: config.dhcpDomain ? [config.dhcpDomain] : [],
        mtu: net.mtu ?? config.networkDeviceMtu,
        serverId: s.hostAddress,
        leaseTime: config.dhcpLeaseTime,
        // The metadata service is on this host: a /32 through our address keeps it reachable on
        // NICs that get no default route (use_single_default_gateway).
        classlessRoutes: [{ destination: `${METADATA_ADDRESS}/32`, gateway: s.hostAddress }],
        primary,
      });
      byBridge.set(net.bridge, hosts);
    }
  }
  return [...byBridge].filter(([, hosts]) => hosts.length).map(([bridge, hosts]) => ({ bridge, hosts }));
}

/** The instances whose VIFs this host answers: its own, and every one on the networks it serves for the segment. */
function answered(view: HostView): { instance: Instance; vifs: Vif[] }[] {
  const segment = new Set(view.served.filter((s) => s.segment).map((s) => s.network.id));
  if (segment.size === 0) return view.local;
  const remote = view.allVifs.filter((v) => v.host !== view.nodeId && segment.has(v.networkId));
  const vifsOf = Map.groupBy(remote, (v) => v.instanceUuid);
  const others = view.allInstances
    .filter((i) => vifsOf.has(i.uuid))
    .map((instance) => ({ instance, vifs: vifsOf.get(instance.uuid)!.sort((a, b) => a.index - b.index) }));
  return [...view.local, ...others];
}

/** MACs of this view's bridges whose VIF now lives on another host (an instance that moved away). */
export function awayMacs(view: HostView): Set<string> {
  return new Set(view.allVifs.filter((v) => v.host !== view.nodeId).map((v) => v.mac.toLowerCase()));
}
