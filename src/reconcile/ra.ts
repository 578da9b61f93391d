/**
 * HostView → router advertisement configs (use_ipv6): the served networks with an IPv6 /64,
 * plus, once, the networks this host stopped serving, so their final RAs also zero the prefix.
 */
import type { Network } from "../model.ts";
import { bridgeConfigsFor, type Refused } from "../ra/networks.ts";
import type { BridgeConfig } from "../ra/config.ts";
import type { HostView } from "./host-view.ts";

export function createRaPlanner() {
  let previous = new Map<string, Network>();
  return (view: HostView): { bridges: BridgeConfig[]; refused: Refused[] } => {
    if (!view.config.useIpv6) return { bridges: [], refused: [] };
    const served = new Map(view.served.filter((s) => s.network.cidrV6).map((s) => [s.network.id, s.network]));
    const gone = [...previous.values()].filter((n) => !served.has(n.id)).map((n) => ({ ...n, deleted: true }));
    previous = served;
    // With the DNS service on, RDNSS names this host's address on the bridge (the gateway).
    const resolverOf =
      view.config.dnsService && view.config.networkManager !== "flat" ? (n: Network) => n.gatewayV6 : undefined;
    const router = view.config.raRouterLifetime;
    return bridgeConfigsFor([...served.values(), ...gone], {
      dhcpDomain: view.config.dhcpDomain || null,
      defaultMtu: view.config.networkDeviceMtu,
      resolverOf,
      lifetimes: router === null ? undefined : { router },
    });
  };
}
