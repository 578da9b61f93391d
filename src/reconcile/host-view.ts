/**
 * One read of the store: what this host serves. Every reconciler (DHCP, RA, metadata listeners,
 * dataplane) is a pure function of this snapshot, so they all see the same state after a change.
 * In multi_host mode a host serves the networks on which it has instances.
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
}

export interface HostView {
  nodeId: string;
  config: Config;
  served: ServedNetwork[];
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
  const servedIds = new Set(localVifs.map((v) => v.networkId));
  const networks = listNetworks(store);
  const served = networks
    .filter((n) => servedIds.has(n.id))
    .map((network) => ({
      network,
      hostAddress: servedAddress(store, network, nodeId),
      prefixLength: network.cidr ? Number(network.cidr.split("/")[1]) : null,
    }));
  const servedBridges = new Set(served.map((s) => s.network.bridge));
  const standby = networks.filter((n) => !servedIds.has(n.id) && !servedBridges.has(n.bridge));
  const vifsOf = Map.groupBy(localVifs, (v) => v.instanceUuid);
  const local = allInstances
    .filter((i) => i.host === nodeId)
    .map((instance) => ({
      instance,
      vifs: (vifsOf.get(instance.uuid) ?? []).sort((a, b) => a.index - b.index),
    }));
  const groups = listSecurityGroups(store).map((group) => ({ group, rules: listRules(store, group.id) }));
  const assigned = listFloatingIps(store, { host: nodeId }).filter((f) => f.fixedAddress);
  // In a cluster exactly one host serves a floating IP: the one holding its IPAM slot.
  const held = cluster ? new Set(cluster.syncFloating(assigned.map((f) => f.address))) : null;
  const floating = held ? assigned.filter((f) => held.has(f.address)) : assigned;
  return {
    nodeId,
    config,
    served,
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
