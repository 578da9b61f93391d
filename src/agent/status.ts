/**
 * `netlet status`: one screen of what this node is and does — built in the agent from the same
 * HostView the reconcilers use, plus each module's live figures.
 */
import type { Config } from "../config/load.ts";
import type { Store } from "../store/db.ts";
import { readHostView } from "../reconcile/host-view.ts";
import { listLeases } from "../store/leases.ts";
import { listFloatingIps } from "../store/floating.ts";
import { VERSION, commit } from "../version.ts";
import { leaseKey } from "../model.ts";

export interface StatusSources {
  startedAt: number;
  myIp: string;
  reconcile: () => unknown;
  lastApply: () => { kind: string; ms: number; at: number } | null;
  driver: string;
  ra: () => { bridge: string; state: string }[] | null;
  dhcpOn: boolean;
  metadataSeen: (uuid: string) => number | null;
  /** DNS listeners and their state; null when dns_service is off. */
  dns?: () => { address: string; bridge: string; state: string }[] | null;
  peers: () => unknown[] | null;
  /** IPAM voters when clustered. */
  voters: () => string[] | null;
  alarms: () => string[];
}

export function statusReport(store: Store, config: Config, src: StatusSources): Record<string, unknown> {
  const view = readHostView(store, config);
  const leases = new Map(listLeases(store).map((l) => [leaseKey(l.networkId, l.mac), l]));
  const floating = listFloatingIps(store);
  const ra = new Map((src.ra() ?? []).map((b) => [b.bridge, b.state]));
  return {
    node: {
      id: store.nodeId,
      address: src.myIp,
      version: `${VERSION} (${commit()})`,
      uptimeS: Math.round((Date.now() - src.startedAt) / 1000),
    },
    peers: src.peers(),
    voters: src.voters(),
    networks: view.served.map((s) => ({
      label: s.network.label,
      cidr: s.network.cidr,
      cidrV6: s.network.cidrV6,
      bridge: s.network.bridge,
      hostAddress: s.hostAddress,
      dhcp: src.dhcpOn && s.network.enableDhcp ? "serving" : "off",
      ra: ra.get(s.network.bridge) ?? (s.network.cidrV6 ? "off (use_ipv6 = false)" : "-"),
    })),
    // Networks another host serves (network-associate-host): this host only bridges its guests.
    bridged: view.bridged.map((b) => ({
      label: b.network.label,
      bridge: b.network.bridge,
      servedBy: b.network.host,
      serverAddress: b.server,
    })),
    instances: view.local.flatMap(({ instance, vifs }) =>
      vifs.map((v) => ({
        name: instance.name,
        uuid: instance.uuid,
        mac: v.mac,
        fixedIp: v.address,
        ipv6: v.addressV6,
        lease: leases.get(leaseKey(v.networkId, v.mac))?.state ?? "none",
        floating: floating
          .filter((f) => f.instanceUuid === instance.uuid && f.fixedAddress === v.address)
          .map((f) => f.address),
        metadataLastSeen: src.metadataSeen(instance.uuid),
      })),
    ),
    dns: src.dns?.() ?? `off (${config.networkManager === "flat" ? "network_manager = flat" : "dns_service = false"})`,
    dataplane: { driver: src.driver, lastApply: src.lastApply() },
    reconcile: src.reconcile(),
    alarms: src.alarms(),
  };
}
