/**
 * One read of the store: what this host serves. Every reconciler (DHCP, RA, metadata listeners,
 * dataplane) is a pure function of this snapshot, so they all see the same state after a change.
 * In multi_host mode a host serves the networks on which it has instances. A network that is not
 * multi_host and is associated with a host (nova network-associate-host) is served by that host
 * alone, for every instance on it; the other hosts with instances on it only bridge it.
 */
import type { Config } from "../config/load.ts";
import type { FloatingIp, Instance, Network, SecurityGroup, SecurityGroupRule, Vif } from "../model.ts";
import type { Store } from "../store/db.ts";
import { findHostAddress } from "../store/fixed-ips.ts";
import { listFloatingIps } from "../store/floating.ts";
import { listInstances, listVifs } from "../store/instances.ts";
import { listNetworks } from "../store/networks.ts";
import { portsByVif } from "../store/ports.ts";
import { listRules, listSecurityGroups } from "../store/secgroups.ts";

export interface ServedNetwork {
  network: Network;
  /** This host's gateway/DHCP address on the bridge (router and server id for its instances). */
  hostAddress: string | null;
  prefixLength: number | null;
  /** This host serves every instance on the network, wherever it runs (the network's associated host). */
  segment: boolean;
}

/** A network with instances here that another host serves: bridge and uplinks only. */
export interface BridgedNetwork {
  network: Network;
  /** The serving host's address on the network (its guests' DHCP server and router). */
  server: string | null;
}

/**
 * What this host does for a network: serve it for its own instances (multi_host, or a network
 * without a host), serve it for every instance (the associated host), only bridge it (another
 * host is associated), or nothing. A multi_host network ignores a host association: every host
 * serves its own instances, which is what multi_host means (nova used the host only for networks
 * that were not multi_host; the admin API refuses to associate one).
 */
export type NetworkRole = "serve" | "serve-segment" | "bridge" | "none";

export function networkRole(net: Network, nodeId: string, hasLocalVifs: boolean): NetworkRole {
  if (!net.multiHost && net.host !== null) {
    if (net.host === nodeId) return "serve-segment";
    return hasLocalVifs ? "bridge" : "none";
  }
  return hasLocalVifs ? "serve" : "none";
}

export interface HostView {
  nodeId: string;
  config: Config;
  served: ServedNetwork[];
  /** Networks with instances here that another host serves (no address, DHCP, RA or DNS here). */
  bridged: BridgedNetwork[];
  /**
   * Networks this host does not serve yet but may: their bridges exist (no address, no DHCP or
   * RA), so a hypervisor can attach a guest's tap before the instance is registered.
   */
  standby: Network[];
  /** Declared host-side ports of this host's VIFs, by VIF id. */
  ports: Map<string, string>;
  /** Instances hosted here, with their VIFs in NIC order. */
  local: { instance: Instance; vifs: Vif[] }[];
  /** Every live VIF in the cluster (security-group membership is cluster-wide). */
  allVifs: Vif[];
  allInstances: Instance[];
  groups: { group: SecurityGroup; rules: SecurityGroupRule[] }[];
  /** Floating IPs this host serves. */
  floating: FloatingIp[];
  /** Floating IPs assigned to this host whose cluster-wide serving slot is not ours yet. */
  floatingPending: number;
  /** Underlay addresses of live peers (VXLAN flood entries). */
  peers: string[];
}

/** What the cluster adds to a host's view; absent when the node runs standalone. */
export interface ClusterView {
  syncFloating(wanted: string[]): string[];
  peerAddresses(): string[];
}

function servedAddress(store: Store, net: Network, nodeId: string): string | null {
  if (!net.cidr) return null;
  if (!net.multiHost || net.shareAddress) return net.dhcpServer;
  return findHostAddress(store, net.id, nodeId) ?? net.dhcpServer;
}

export function readHostView(store: Store, config: Config, cluster: ClusterView | null = null): HostView {
  const nodeId = store.nodeId;
  const allVifs = listVifs(store);
  const allInstances = listInstances(store);
  const localVifs = allVifs.filter((v) => v.host === nodeId);
  const localIds = new Set(localVifs.map((v) => v.networkId));
  const networks = listNetworks(store);
  const roles = new Map(networks.map((n) => [n.id, networkRole(n, nodeId, localIds.has(n.id))]));
  const served = networks
    .filter((n) => roles.get(n.id) === "serve" || roles.get(n.id) === "serve-segment")
    .map((network) => ({
      network,
      hostAddress: servedAddress(store, network, nodeId),
      prefixLength: network.cidr ? Number(network.cidr.split("/")[1]) : null,
      segment: roles.get(network.id) === "serve-segment",
    }));
  const bridged = networks
    .filter((n) => roles.get(n.id) === "bridge")
    .map((network) => ({ network, server: network.cidr ? network.dhcpServer : null }));
  const usedBridges = new Set([...served, ...bridged].map((s) => s.network.bridge));
  const standby = networks.filter((n) => roles.get(n.id) === "none" && !usedBridges.has(n.bridge));
  const vifsOf = Map.groupBy(localVifs, (v) => v.instanceUuid);
  const local = allInstances
    .filter((i) => i.host === nodeId)
    .map((instance) => ({
      instance,
      vifs: (vifsOf.get(instance.uuid) ?? []).sort((a, b) => a.index - b.index),
    }));
  const groups = listSecurityGroups(store).map((group) => ({ group, rules: listRules(store, group.id) }));
  // Listing every floating IP is needed only when some network is served by its associated host.
  const associated = networks.some((n) => !n.multiHost && n.host !== null);
  const candidates = associated ? listFloatingIps(store) : listFloatingIps(store, { host: nodeId });
  const assigned = floatingServedBy(candidates, networks, nodeId);
  // In a cluster exactly one host serves a floating IP: the one holding its IPAM slot.
  const held = cluster ? new Set(cluster.syncFloating(assigned.map((f) => f.address))) : null;
  const floating = held ? assigned.filter((f) => held.has(f.address)) : assigned;
  return {
    nodeId,
    config,
    served,
    bridged,
    standby,
    ports: portsByVif(store),
    local,
    allVifs,
    allInstances,
    groups,
    floating,
    floatingPending: assigned.length - floating.length,
    peers: cluster?.peerAddresses() ?? [],
  };
}

/**
 * The floating IPs this host is assigned: its own, except where the fixed address is on a network
 * another host is associated with (that host routes the network, so it holds the floating IP),
 * plus those of the networks associated with this host.
 */
export function floatingServedBy(
  all: readonly FloatingIp[],
  networks: readonly Network[],
  nodeId: string,
): FloatingIp[] {
  const owner = new Map(networks.filter((n) => !n.multiHost && n.host !== null).map((n) => [n.id, n.host]));
  return all.filter((f) => {
    if (!f.fixedAddress) return false;
    const host = (f.fixedNetworkId && owner.get(f.fixedNetworkId)) ?? f.host;
    return host === nodeId;
  });
}
