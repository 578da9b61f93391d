/**
 * HostView → the DNS server's plan: a listener on each served bridge's host address (and its
 * IPv6 gateway address with use_ipv6) serving that network's sources, and the instance zone of
 * the whole cluster. Upstreams, as nova-network's dnsmasq had them: dns_server, else the
 * network's dns1/dns2, else this host's own resolv.conf servers — never our own listeners.
 */
import { readFileSync } from "node:fs";
import type { FloatingIp } from "../model.ts";
import type { DnsPlan, ListenerPlan } from "../dns/service.ts";
import { buildZone, type ZoneInstance } from "../dns/zone.ts";
import type { HostView } from "./host-view.ts";

/** nameserver lines of a resolv.conf text. */
export function resolvConfServers(text: string): string[] {
  return text
    .split("\n")
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
    .filter((s): s is string => !!s);
}

export function hostResolvers(path = "/etc/resolv.conf"): string[] {
  try {
    return resolvConfServers(readFileSync(path, "utf8"));
  } catch {
    return [];
  }
}

/** The addresses guests are told to use as their resolver on a network, IPv4 then IPv6. */
export function dnsAddresses(view: HostView, networkId: string): { v4: string | null; v6: string | null } {
  const s = view.served.find((x) => x.network.id === networkId);
  if (!s) return { v4: null, v6: null };
  return { v4: s.hostAddress, v6: view.config.useIpv6 && s.network.cidrV6 ? s.network.gatewayV6 : null };
}

export function createDnsPlanner(resolvers: () => string[] = hostResolvers) {
  let lastKey = "";
  let serial = 0;
  return (view: HostView, floating: readonly FloatingIp[]): DnsPlan => {
    const c = view.config;
    const listeners = new Map<string, ListenerPlan>();
    for (const s of view.served) {
      const n = s.network;
      const own = dnsAddresses(view, n.id);
      const add = (address: string | null, cidr: string | null) => {
        if (!address || !cidr) return;
        const l = listeners.get(address) ?? {
          address,
          bridge: n.bridge,
          allowed: [],
          upstreams: [],
          project: n.projectId,
        };
        l.allowed.push(cidr);
        const configured = c.dnsServer.length ? c.dnsServer : [n.dns1, n.dns2].filter((d): d is string => !!d);
        if (l.upstreams.length === 0) l.upstreams = configured;
        listeners.set(address, l);
      };
      add(own.v4, n.cidr);
      add(own.v6, n.cidrV6);
    }
    const mine = new Set(listeners.keys());
    let fallback: string[] | null = null;
    for (const l of listeners.values()) {
      l.upstreams = l.upstreams.filter((u) => !mine.has(u));
      if (l.upstreams.length === 0) l.upstreams = fallback ??= resolvers().filter((u) => !mine.has(u));
    }
    const vifsOf = Map.groupBy(view.allVifs, (v) => v.instanceUuid);
    const floatOf = Map.groupBy(
      floating.filter((f) => f.instanceUuid),
      (f) => f.instanceUuid!,
    );
    const instances: ZoneInstance[] = view.allInstances.map((i) => {
      const vifs = (vifsOf.get(i.uuid) ?? []).sort((a, b) => a.index - b.index);
      return {
        hostname: i.hostname,
        project: i.projectId,
        v4: vifs.map((v) => v.address).filter((a): a is string => !!a),
        v6: vifs.map((v) => v.addressV6).filter((a): a is string => !!a),
        floating: (floatOf.get(i.uuid) ?? []).map((f) => f.address),
      };
    });
    const nets = view.served.flatMap((s) => [s.network.cidr, s.network.cidrV6]).filter((x): x is string => !!x);
    const key = JSON.stringify([c.dhcpDomain, instances, nets]);
    if (key !== lastKey) {
      lastKey = key;
      serial = Math.max(serial + 1, Math.floor(Date.now() / 1000));
    }
    return { listeners: [...listeners.values()], zone: buildZone(c.dhcpDomain ?? "", instances, nets, serial) };
  };
}
