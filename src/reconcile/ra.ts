/** HostView → router advertisement configs: one per served bridge whose network has an IPv6 /64 (use_ipv6). */
import type { BridgeConfig } from "../ra/config.ts";
import type { HostView } from "./host-view.ts";

export function raBridges(view: HostView): BridgeConfig[] {
  if (!view.config.useIpv6) return [];
  const seen = new Set<string>();
  const out: BridgeConfig[] = [];
  for (const s of view.served) {
    const net = s.network;
    if (!net.cidrV6 || seen.has(net.bridge)) continue;
    seen.add(net.bridge);
    const v6dns = [net.dns1, net.dns2, ...view.config.dnsServer].filter((d): d is string => !!d && d.includes(":"));
    const mtu = net.mtu ?? view.config.networkDeviceMtu;
    out.push({
      bridge: net.bridge,
      prefix: net.cidrV6,
      mtu: mtu !== null && mtu >= 1280 ? mtu : null,
      rdnss: v6dns,
      dnssl: view.config.dhcpDomain ? [view.config.dhcpDomain] : [],
    });
  }
  return out;
}
