/**
 * Domain records shared by every module. The store (src/store) is the one source of truth for
 * them; reconcilers (dhcp, ra, metadata, dataplane) receive them through change events and
 * never write them back except through the store's own functions.
 *
 * Every record the cluster replicates carries a `Version`: the node that wrote it (`origin`), a
 * hybrid logical clock (`hlc`, a fixed-width sortable string, see src/replication/hlc.ts) and a
 * tombstone flag (`deleted`). Rows with `deleted = true` are never returned by ordinary reads.
 */

export interface Version {
  origin: string;
  hlc: string;
  deleted: boolean;
}

export type NetworkManager = "flat" | "flatdhcp" | "vlan";

export interface Network extends Version {
  id: string;
  label: string;
  /** IPv4 subnet, e.g. "10.0.0.0/24" (null for an IPv6-only network). */
  cidr: string | null;
  /** IPv6 prefix, always /64 so that instances can use SLAAC. */
  cidrV6: string | null;
  /** Part of `cidr` whose addresses become fixed IPs (defaults to `cidr`). */
  fixedCidr: string | null;
  netmask: string | null;
  broadcast: string | null;
  gateway: string | null;
  gatewayV6: string | null;
  dhcpServer: string | null;
  dhcpStart: string | null;
  bridge: string;
  bridgeInterface: string | null;
  vlan: number | null;
  vxlan: number | null;
  dns1: string | null;
  dns2: string | null;
  mtu: number | null;
  multiHost: boolean;
  projectId: string | null;
  enableDhcp: boolean;
  shareAddress: boolean;
  allowedStart: string | null;
  allowedEnd: string | null;
  vpnPrivateAddress: string | null;
  priority: number | null;
  /** A network that is not multi_host: the one host associated with it (nova network-associate-host). */
  host: string | null;
  createdAt: number;
}

export interface FixedIp {
  networkId: string;
  address: string;
  reserved: boolean;
  allocated: boolean;
  leased: boolean;
  instanceUuid: string | null;
  vifId: string | null;
  /** Set when a host claimed this address as its own gateway/dhcp address (multi_host). */
  host: string | null;
  updatedAt: number;
}

export interface Vif extends Version {
  id: string;
  mac: string;
  instanceUuid: string;
  networkId: string;
  address: string | null;
  addressV6: string | null;
  host: string;
  /** 0 for the instance's first NIC; use_single_default_gateway gives a router only to it. */
  index: number;
}

export interface Instance extends Version {
  uuid: string;
  name: string;
  hostname: string;
  host: string;
  projectId: string;
  userId: string;
  keyName: string | null;
  keyData: string | null;
  userData: Uint8Array | null;
  meta: Record<string, string>;
  launchIndex: number;
  availabilityZone: string;
  flavor: string;
  securityGroups: string[];
  reservationId: string;
  password: string | null;
  createdAt: number;
}

export interface Keypair extends Version {
  name: string;
  publicKey: string;
  fingerprint: string;
  type: string;
}

export interface SecurityGroup extends Version {
  id: string;
  name: string;
  description: string;
  projectId: string;
}

export type RuleDirection = "ingress" | "egress";
export type RuleProtocol = "tcp" | "udp" | "icmp" | "any";

export interface SecurityGroupRule extends Version {
  id: string;
  groupId: string;
  direction: RuleDirection;
  ethertype: "IPv4" | "IPv6";
  protocol: RuleProtocol;
  /** tcp/udp: first port; icmp: type (-1 = any). */
  fromPort: number;
  /** tcp/udp: last port; icmp: code (-1 = any). */
  toPort: number;
  cidr: string | null;
  sourceGroupId: string | null;
}

export interface FloatingIp extends Version {
  address: string;
  pool: string;
  interface: string;
  projectId: string | null;
  instanceUuid: string | null;
  fixedAddress: string | null;
  fixedNetworkId: string | null;
  /** The one host that serves this address (plumbing, NAT, gratuitous ARP). */
  host: string | null;
  autoAssigned: boolean;
}

export interface Host extends Version {
  id: string;
  hostname: string;
  address: string;
  generation: number;
}

export type LeaseState = "offered" | "leased" | "released" | "expired" | "declined";

export interface Lease extends Version {
  networkId: string;
  mac: string;
  address: string;
  hostname: string | null;
  clientId: string | null;
  state: LeaseState;
  expiresAt: number;
  updatedAt: number;
}

/**
 * The one spelling of a lease's key (a client's MAC on one network): in replication, change
 * events and every in-memory lease table.
 */
export function leaseKey(networkId: string, mac: string): string {
  return `${networkId}/${mac}`;
}

/** Tables whose writes raise change events. */
export type Entity =
  | "network"
  | "fixed_ip"
  | "vif"
  /** A VIF's declared host-side port (local to this host, never replicated). */
  | "vif_port"
  | "instance"
  | "keypair"
  | "security_group"
  | "security_group_rule"
  | "floating_ip"
  | "host"
  | "lease";

/** Raised after a transaction commits, once per changed row. */
export interface ChangeEvent {
  entity: Entity;
  op: "put" | "delete";
  key: string;
  /** True when the change arrived from a peer rather than this node's API. */
  remote: boolean;
}
