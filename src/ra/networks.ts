/**
 * From the store's Network records to what RaService advertises. The composition root passes
 * the networks this node serves (with `use_ipv6` on) and hands `bridges` to
 * `RaService.setBridges`; `refused` lists networks that cannot be advertised, with the reason,
 * so one bad record never stops the others.
 */
import ipaddr from "ipaddr.js";
import type { Network } from "../model.ts";
import { checkBridgeConfig, type BridgeConfig, type Lifetimes } from "./config.ts";

export interface RaNetworkOptions {
  /** nova's dhcp_domain, advertised as the DNSSL search domain; null for none. */
  dhcpDomain: string | null;
  /** network_device_mtu, used when the network sets no mtu. */
  defaultMtu: number | null;
  /** Must match the service's MaxRtrAdvInterval so lifetimes are checked the same way. @default 10000 */
  maxIntervalMs?: number;
  lifetimes?: Lifetimes;
  /** The host's own resolver on the network (the DNS service), advertised instead of dns1/dns2. */
  resolverOf?: (n: Network) => string | null;
}

export interface Refused {
  networkId: string;
  bridge: string;
  error: string;
}

export function bridgeConfigsFor(
  networks: Network[],
  opts: RaNetworkOptions,
): { bridges: BridgeConfig[]; refused: Refused[] } {
  const bridges: BridgeConfig[] = [];
  const refused: Refused[] = [];
  const owner = new Map<string, string>();
  // Live networks first: a deleted network whose bridge was reused must not withdraw the new one.
  for (const n of [...networks].sort((a, b) => Number(a.deleted) - Number(b.deleted))) {
    if (!n.cidrV6) continue;
    const cfg: BridgeConfig = {
      bridge: n.bridge,
      prefix: n.cidrV6,
      mtu: n.mtu ?? opts.defaultMtu,
      // RDNSS carries IPv6 servers only; IPv4 dns1/dns2 reach guests through DHCPv4.
      rdnss: (opts.resolverOf ? [opts.resolverOf(n)] : [n.dns1, n.dns2]).filter(
        (d): d is string => !!d && ipaddr.IPv6.isValid(d),
      ),
      dnssl: opts.dhcpDomain ? [opts.dhcpDomain] : [],
      lifetimes: opts.lifetimes,
      removed: n.deleted,
    };
    const other = owner.get(n.bridge);
    if (other !== undefined) {
      if (n.deleted) continue;
      refused.push({
        networkId: n.id,
        bridge: n.bridge,
        error: `Cannot advertise '${n.cidrV6}' on '${n.bridge}' as network ${other} already advertises there`,
      });
      continue;
    }
    try {
      checkBridgeConfig(cfg, opts.maxIntervalMs ?? 10_000);
    } catch (e) {
      refused.push({ networkId: n.id, bridge: n.bridge, error: (e as Error).message });
      continue;
    }
    owner.set(n.bridge, n.id);
    bridges.push(cfg);
  }
  return { bridges, refused };
}
