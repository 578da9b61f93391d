/**
 * What the DHCP server needs to answer one MAC on one bridge. The composition root builds these
 * from the store (vif + fixed IP + network + instance) for the instances hosted on this node.
 */
import type { Route } from "./options.ts";

export interface DhcpHost {
  /** Lower-case colon-separated MAC, e.g. "fa:16:3e:00:00:01". */
  mac: string;
  networkId: string;
  /** The fixed IPv4 address the store assigned. */
  address: string;
  prefixLength: number;
  /**
   * Gateway handed out as option 3 and as the default classless route; null for none, which is
   * how use_single_default_gateway is applied to an instance's other NICs.
   */
  router: string | null;
  dnsServers: string[];
  /** Instance hostname without domain; shortened and joined with `domain` for option 12. */
  hostname: string | null;
  /** nova's dhcp_domain (option 15), e.g. "novalocal". */
  domain: string | null;
  /** Option 119 names. */
  searchDomains: string[];
  /** Network MTU (option 26), when the network sets one. */
  mtu: number | null;
  /** This node's address on the bridge: option 54, and where clients unicast renewals. */
  serverId: string;
  /** Seconds (nova's dhcp_lease_time, 86400 by default). */
  leaseTime: number;
  /** Extra option 121 routes, e.g. the metadata /32 via the gateway; the default route is added here. */
  classlessRoutes: Route[];
  /** The instance's first NIC (nova's default_route); the caller gives other NICs `router: null` under use_single_default_gateway. */
  primary: boolean;
}

/**
 * Option 12 as nova wrote it into dnsmasq's hosts file: a hostname longer than 63 characters
 * becomes its first 2 characters, "-", and its last 60 (LP #1238910), then ".<dhcp_domain>".
 */
export function dhcpHostname(hostname: string, domain: string | null): string {
  const short = hostname.length > 63 ? `${hostname.slice(0, 2)}-${hostname.slice(-60)}` : hostname;
  return domain ? `${short}.${domain}` : short;
}
