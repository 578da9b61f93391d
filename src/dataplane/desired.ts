/**
 * The dataplane's one input: a plain snapshot of what this host must program, built by the
 * composition root from the store after every change. Every renderer (nftables, iptables, links)
 * is a pure function of this value, so a test can build one by hand with `desiredFromFixture`.
 */
import { createHash } from "node:crypto";
import { eui64, linkLocal } from "../net/eui64.ts";

export type FirewallDriver = "nftables" | "iptables" | "noop";

export interface DataplaneConfig {
  /** Interface towards the outside world; SNAT and floating IPs leave through it. */
  publicInterface: string | null;
  /** Fixed source address for SNAT; null means masquerade on `publicInterface`. */
  routingSourceIp: string | null;
  /** Destinations reached without SNAT (nova `dmz_cidr`). */
  dmzCidr: string[];
  /** Destinations always SNATed, whatever the interface (nova `force_snat_range`). */
  forceSnatRange: string[];
  /** Metadata DNAT target; null means this host's address on the VM's bridge. */
  metadataHost: string | null;
  metadataPort: number;
  /** Trust every address of the instance's own network (nova default true). */
  allowSameNetTraffic: boolean;
  firewallDriver: FirewallDriver;
  flatInterface: string | null;
  vlanInterface: string | null;
  networkDeviceMtu: number | null;
  sendArpForHa: boolean;
  sendArpForHaCount: number;
  /**
   * The kernel matches a frame's bridge in bridge-family rules (`meta ibrname`,
   * CONFIG_NFT_BRIDGE_META). Without it, ports of other bridges are listed by name instead.
   */
  bridgeMeta: boolean;
}

export interface VxlanSpec {
  vni: number;
  /** Underlay addresses of the other hosts serving this network (FDB flood entries). */
  peers: string[];
  /** This host's underlay address and device (default: the route lookup decides). */
  local: string | null;
  underlay: string | null;
}

export interface NetworkOnHost {
  id: string;
  bridge: string;
  cidr: string | null;
  cidrV6: string | null;
  /** This host's gateway/dhcp address on the bridge (first address, DNAT target). */
  hostAddress: string | null;
  /** `hostAddress` is the same on every host (share_dhcp_address, or a single-host network). */
  hostAddressShared: boolean;
  /** This host's DHCP server answers on the bridge (the network has enable_dhcp). */
  dhcp: boolean;
  /** This host's IPv6 address on the bridge (RA source is its link-local). */
  hostAddressV6: string | null;
  mtu: number | null;
  vlan: number | null;
  vxlan: VxlanSpec | null;
  /** Physical or VLAN device enslaved to the bridge (flat_interface or vlan<N>). */
  uplink: string | null;
  /** The bridge's own MAC (the gateway's), pinned so it never follows a guest's tap. */
  bridgeMac: string | null;
  /**
   * This host serves the network for the whole segment (its associated host): the other hosts'
   * guests reach its DHCP, RAs and gateway through the uplinks, so those are not kept local.
   */
  segment: boolean;
  /**
   * A bridged-only network (another host serves it): that host's address, from which DHCP replies
   * reach this host's guests. Null on networks this host serves.
   */
  remoteServer: string | null;
}

export interface VifOnHost {
  mac: string;
  networkId: string;
  bridge: string;
  ipv4: string | null;
  /** Global IPv6 address (EUI-64 of the MAC in the network's /64). */
  ipv6: string | null;
  ipv6LinkLocal: string;
  /** Host-side port of this VIF (libvirt tap `vnetN`) as declared by plug; null: not plugged, no traffic. */
  port: string | null;
}

export interface InstanceOnHost {
  uuid: string;
  name: string;
  /** Security group ids. */
  groups: string[];
  vifs: VifOnHost[];
}

export interface RuleSpec {
  direction: "ingress" | "egress";
  ethertype: "IPv4" | "IPv6";
  protocol: "tcp" | "udp" | "icmp" | "any";
  /** tcp/udp first port; icmp type (-1 any). */
  fromPort: number;
  /** tcp/udp last port; icmp code (-1 any). */
  toPort: number;
  cidr: string | null;
  sourceGroupId: string | null;
}

export interface GroupSpec {
  id: string;
  name: string;
  rules: RuleSpec[];
}

export interface GroupMembers {
  v4: string[];
  v6: string[];
}

export interface FloatingOnHost {
  address: string;
  fixedAddress: string;
  /** Interface the /32 lives on (public_interface, or the pool's interface). */
  interface: string;
}

export interface DesiredState {
  config: DataplaneConfig;
  networks: NetworkOnHost[];
  instances: InstanceOnHost[];
  groups: GroupSpec[];
  /** Addresses of every instance in each group, cluster-wide, keyed by group id. */
  members: Record<string, GroupMembers>;
  floatingIps: FloatingOnHost[];
  /** Bridges that exist ahead of their first instance: links only, no address or rules of their own. */
  standby: NetworkOnHost[];
  /** Ports of bridges netlet does not manage (read from the kernel; used without `bridgeMeta`). */
  foreignPorts: string[];
}

export const DEFAULT_CONFIG: DataplaneConfig = {
  publicInterface: null,
  routingSourceIp: null,
  dmzCidr: [],
  forceSnatRange: [],
  metadataHost: null,
  metadataPort: 8775,
  allowSameNetTraffic: true,
  firewallDriver: "nftables",
  flatInterface: null,
  vlanInterface: null,
  networkDeviceMtu: null,
  sendArpForHa: false,
  sendArpForHaCount: 3,
  bridgeMeta: false,
};

/** Short stable name part for an id: iptables chain names are limited to 28 characters. */
export function shortKey(id: string): string {
  return createHash("sha256").update(id).digest("hex").slice(0, 10);
}

/**
 * `shortKey` remembered in `memo`: a hash per name costs more than the rest of a 10,000-instance
 * render, and a host has few distinct profiles. The caller owns the memo (one per render, or one
 * per Dataplane kept between renders).
 */
export function shortKeys(memo: Map<string, string> = new Map()): (id: string) => string {
  return (id) => {
    let k = memo.get(id);
    if (k === undefined) {
      k = shortKey(id);
      // Bounded: names of profiles and groups no longer in use are forgotten all at once.
      if (memo.size >= MAX_NAMES) memo.clear();
      memo.set(id, k);
    }
    return k;
  };
}

const MAX_NAMES = 50_000;

export interface FixtureVif {
  mac: string;
  network: string;
  ipv4?: string | null;
  port?: string | null;
}

export interface FixtureInstance {
  uuid: string;
  name?: string;
  groups?: string[];
  vifs: FixtureVif[];
}

export interface Fixture {
  config?: Partial<DataplaneConfig>;
  networks: (Partial<NetworkOnHost> & { id: string; bridge: string })[];
  instances?: FixtureInstance[];
  groups?: GroupSpec[];
  members?: Record<string, GroupMembers>;
  floatingIps?: FloatingOnHost[];
  standby?: (Partial<NetworkOnHost> & { id: string; bridge: string })[];
  foreignPorts?: string[];
}

const networkDefaults = {
  cidr: null,
  cidrV6: null,
  hostAddress: null,
  hostAddressShared: false,
  dhcp: true,
  hostAddressV6: null,
  mtu: null,
  vlan: null,
  vxlan: null,
  uplink: null,
  bridgeMac: null,
  segment: false,
  remoteServer: null,
};

/**
 * Build a DesiredState from a compact description: fills defaults and derives each VIF's
 * IPv6 addresses from its MAC. When `members` is not given, group membership is computed from
 * the local instances (enough for single-host tests).
 */
export function desiredFromFixture(f: Fixture): DesiredState {
  const networks: NetworkOnHost[] = f.networks.map((n) => ({ ...networkDefaults, ...n }));
  const byId = new Map(networks.map((n) => [n.id, n]));
  const instances: InstanceOnHost[] = (f.instances ?? []).map((i) => ({
    uuid: i.uuid,
    name: i.name ?? i.uuid,
    groups: i.groups ?? [],
    vifs: i.vifs.map((v) => {
      const net = byId.get(v.network);
      if (!net) throw new RangeError(`Cannot build VIF ${v.mac} as network "${v.network}" is unknown`);
      return {
        mac: v.mac.toLowerCase(),
        networkId: net.id,
        bridge: net.bridge,
        ipv4: v.ipv4 ?? null,
        ipv6: net.cidrV6 ? eui64(v.mac, net.cidrV6) : null,
        ipv6LinkLocal: linkLocal(v.mac),
        port: v.port ?? null,
      };
    }),
  }));
  return {
    config: { ...DEFAULT_CONFIG, ...f.config },
    networks,
    instances,
    groups: f.groups ?? [],
    members: f.members ?? membersOf(instances),
    floatingIps: f.floatingIps ?? [],
    standby: (f.standby ?? []).map((n) => ({ ...networkDefaults, ...n })),
    foreignPorts: f.foreignPorts ?? [],
  };
}

/** Group → member addresses from a list of instances. */
export function membersOf(instances: InstanceOnHost[]): Record<string, GroupMembers> {
  const out: Record<string, GroupMembers> = {};
  for (const i of instances) {
    for (const g of i.groups) {
      const m = (out[g] ??= { v4: [], v6: [] });
      for (const v of i.vifs) {
        if (v.ipv4) m.v4.push(v.ipv4);
        if (v.ipv6) m.v6.push(v.ipv6);
      }
    }
  }
  return out;
}
