/**
 * Every configuration option netlet reads, with nova.conf's names so that a nova-network
 * operator can reuse their [DEFAULT] section. Each entry says its type, default and meaning; the
 * same table drives validation (src/config/load.ts) and `netlet config sample`.
 */

export type OptionType =
  | { kind: "string" }
  | { kind: "ipv4" }
  | { kind: "ip" }
  | { kind: "ipv6" }
  | { kind: "cidr-list" }
  | { kind: "ip-list" }
  | { kind: "bool" }
  | { kind: "int"; min: number; max: number }
  | { kind: "enum"; values: readonly string[] }
  | { kind: "path" }
  | { kind: "iface" }
  | { kind: "peer-list" }
  | { kind: "target-list" };

export interface OptionSpec {
  key: string;
  section: "DEFAULT" | "cluster";
  type: OptionType;
  /** Default as it would be written in the file ("" = unset). */
  default: string;
  help: string;
}

const str = { kind: "string" } as const;
const bool = { kind: "bool" } as const;
const iface = { kind: "iface" } as const;
const int = (min: number, max: number) => ({ kind: "int", min, max }) as const;

export const OPTIONS: readonly OptionSpec[] = [
  {
    key: "my_ip",
    section: "DEFAULT",
    type: { kind: "ipv4" },
    default: "",
    help: "This host's address on the management/underlay network. Unset: the source address of the default route.",
  },
  {
    key: "host",
    section: "DEFAULT",
    type: str,
    default: "",
    help: "Name of this node in the cluster. Unset: the machine's hostname.",
  },
  {
    key: "state_path",
    section: "DEFAULT",
    type: { kind: "path" },
    default: "/var/lib/netlet",
    help: "Directory for the SQLite store (netlet.db) and keys.",
  },
  {
    key: "network_manager",
    section: "DEFAULT",
    type: { kind: "enum", values: ["flat", "flatdhcp", "vlan"] },
    default: "flatdhcp",
    help: "Network model: flat (no DHCP/NAT), flatdhcp (bridge + DHCP + NAT), vlan (one VLAN per project). nova's class names (nova.network.manager.FlatDHCPManager, …) are accepted.",
  },
  {
    key: "multi_host",
    section: "DEFAULT",
    type: bool,
    default: "true",
    help: "Default for new networks: every host serves DHCP, NAT and metadata for its own instances.",
  },
  {
    key: "public_interface",
    section: "DEFAULT",
    type: iface,
    default: "eth0",
    help: "Interface toward the outside: SNAT leaves through it, floating IPs are added to it.",
  },
  {
    key: "flat_interface",
    section: "DEFAULT",
    type: iface,
    default: "",
    help: "Uplink enslaved to flat bridges (its addresses move to the bridge). Unset: bridges have no uplink.",
  },
  {
    key: "vlan_interface",
    section: "DEFAULT",
    type: iface,
    default: "",
    help: "Parent interface of vlan<N> devices in vlan mode.",
  },
  {
    key: "flat_network_bridge",
    section: "DEFAULT",
    type: iface,
    default: "br100",
    help: "Bridge used by network-create when --bridge is not given.",
  },
  {
    key: "flat_network_dns",
    section: "DEFAULT",
    type: { kind: "ipv4" },
    default: "8.8.4.4",
    help: "dns1 of new networks when --dns1 is not given.",
  },
  {
    key: "dhcp_lease_time",
    section: "DEFAULT",
    type: int(60, 31_536_000),
    default: "86400",
    help: "DHCP lease time in seconds.",
  },
  {
    key: "dhcp_domain",
    section: "DEFAULT",
    type: str,
    default: "novalocal",
    help: "Domain appended to instance hostnames (DHCP option 15, metadata hostname).",
  },
  {
    key: "dns_server",
    section: "DEFAULT",
    type: { kind: "ip-list" },
    default: "",
    help: "Upstream resolvers of the instance DNS service, instead of the network's dns1/dns2 (unset: the network's, else this host's resolv.conf). With dns_service = false they are handed to instances directly.",
  },
  {
    key: "dns_service",
    section: "DEFAULT",
    type: bool,
    default: "true",
    help: "Run a DNS server on each served bridge's host address: instance names (hostname.dhcp_domain, PTR) from the store, everything else forwarded. Instances get this host's address as their resolver (DHCP option 6, RA RDNSS). false: hand them dns_server or the network's dns1/dns2 instead.",
  },
  {
    key: "dns_rate_limit",
    section: "DEFAULT",
    type: int(0, 1_000_000),
    default: "500",
    help: "DNS queries per second accepted from one instance address (burst twice that); 0 = no limit.",
  },
  {
    key: "use_single_default_gateway",
    section: "DEFAULT",
    type: bool,
    default: "false",
    help: "Give a default router only to an instance's first NIC.",
  },
  {
    key: "force_dhcp_release",
    section: "DEFAULT",
    type: bool,
    default: "true",
    help: "Drop an instance's lease at once when it is deleted instead of waiting for expiry.",
  },
  {
    key: "share_dhcp_address",
    section: "DEFAULT",
    type: bool,
    default: "false",
    help: "All hosts use the network's gateway as their DHCP/gateway address instead of claiming one each.",
  },
  {
    key: "network_device_mtu",
    section: "DEFAULT",
    type: int(576, 65535),
    default: "",
    help: "MTU of bridges and uplinks when the network sets none.",
  },
  {
    key: "use_ipv6",
    section: "DEFAULT",
    type: bool,
    default: "false",
    help: "Advertise IPv6 prefixes (SLAAC) on served bridges.",
  },
  {
    key: "ra_router_lifetime",
    section: "DEFAULT",
    type: int(0, 9000),
    default: "",
    help: "Router lifetime of the router advertisements in seconds, radvd's AdvDefaultLifetime: 0 = not a default router, else at least 10 (the maximum advertisement interval). Unset: 30 (3 x 10 s).",
  },
  {
    key: "fixed_range_v6",
    section: "DEFAULT",
    type: str,
    default: "fd00::/48",
    help: "IPv6 range from which networks without --fixed-range-v6 take a /64.",
  },
  {
    key: "gateway_v6",
    section: "DEFAULT",
    type: { kind: "ipv6" },
    default: "",
    help: "IPv6 gateway of new networks. Unset: the first address of the prefix.",
  },
  {
    key: "ipv6_backend",
    section: "DEFAULT",
    type: { kind: "enum", values: ["rfc2462"] },
    default: "rfc2462",
    help: "How instance IPv6 addresses are derived: rfc2462 = EUI-64 from the MAC.",
  },
  {
    key: "metadata_host",
    section: "DEFAULT",
    type: { kind: "ipv4" },
    default: "",
    help: "Address the metadata DNAT sends to. Unset: this host's address on each bridge.",
  },
  {
    key: "metadata_port",
    section: "DEFAULT",
    type: int(1, 65535),
    default: "8775",
    help: "Port the metadata DNAT sends to.",
  },
  {
    key: "metadata_listen",
    section: "DEFAULT",
    type: { kind: "ip" },
    default: "0.0.0.0",
    help: "Address the metadata service listens on.",
  },
  {
    key: "metadata_listen_port",
    section: "DEFAULT",
    type: int(1, 65535),
    default: "8775",
    help: "Port the metadata service listens on.",
  },
  {
    key: "metadata_cache_expiration",
    section: "DEFAULT",
    type: int(0, 86400),
    default: "15",
    help: "Seconds a rendered metadata document may be served from cache (changes that raise events invalidate at once).",
  },
  { key: "metadata_workers", section: "DEFAULT", type: int(1, 64), default: "1", help: "Metadata server processes." },
  {
    key: "vendordata_jsonfile_path",
    section: "DEFAULT",
    type: { kind: "path" },
    default: "",
    help: "Static JSON file served as vendor_data.json.",
  },
  {
    key: "vendordata_dynamic_targets",
    section: "DEFAULT",
    type: { kind: "target-list" },
    default: "",
    help: "name@url services POSTed for vendor_data2.json.",
  },
  {
    key: "dmz_cidr",
    section: "DEFAULT",
    type: { kind: "cidr-list" },
    default: "",
    help: "Destinations reached without SNAT.",
  },
  {
    key: "force_snat_range",
    section: "DEFAULT",
    type: { kind: "cidr-list" },
    default: "",
    help: "Destinations always SNATed, even from floating IPs.",
  },
  {
    key: "routing_source_ip",
    section: "DEFAULT",
    type: { kind: "ipv4" },
    default: "",
    help: "SNAT source for instance traffic. Unset: masquerade on public_interface.",
  },
  {
    key: "auto_assign_floating_ip",
    section: "DEFAULT",
    type: bool,
    default: "false",
    help: "Give every booted instance a floating IP from default_floating_pool.",
  },
  {
    key: "default_floating_pool",
    section: "DEFAULT",
    type: str,
    default: "nova",
    help: "Pool used by floating-ip-create without a pool and by auto-assignment.",
  },
  {
    key: "send_arp_for_ha",
    section: "DEFAULT",
    type: bool,
    default: "false",
    help: "Send gratuitous ARP when a floating IP is plumbed.",
  },
  {
    key: "send_arp_for_ha_count",
    section: "DEFAULT",
    type: int(1, 100),
    default: "3",
    help: "Gratuitous ARPs per floating IP.",
  },
  {
    key: "firewall_driver",
    section: "DEFAULT",
    type: { kind: "enum", values: ["nftables", "iptables", "noop"] },
    default: "nftables",
    help: "Security groups and NAT backend; noop keeps NAT but does no filtering. nova's IptablesFirewallDriver and NoopFirewallDriver class names are accepted.",
  },
  {
    key: "allow_same_net_traffic",
    section: "DEFAULT",
    type: bool,
    default: "true",
    help: "Instances on the same network reach each other regardless of security groups.",
  },
  {
    key: "admin_listen",
    section: "DEFAULT",
    type: str,
    default: "127.0.0.1:9775",
    help: "Listener for /metrics, /healthz and /readyz.",
  },
  {
    key: "log_level",
    section: "DEFAULT",
    type: { kind: "enum", values: ["debug", "info", "warn", "error"] },
    default: "info",
    help: "Least severe log lines written: debug, info, warn or error.",
  },
  {
    key: "libvirt_uri",
    section: "DEFAULT",
    type: str,
    default: "qemu:///system",
    help: "libvirt connection the agent reconciles domains with (virsh -c); empty: no libvirt reconciliation.",
  },
  {
    key: "libvirt_poll_interval",
    section: "DEFAULT",
    type: int(1, 3600),
    default: "30",
    help: "Seconds between reconciliations with libvirt's domains (also done at agent start).",
  },
  {
    key: "libvirt_undefine_grace",
    section: "DEFAULT",
    type: int(0, 604800),
    default: "300",
    help: "Seconds a libvirt domain may be missing (undefined) before its instance is deleted and its addresses released.",
  },
  {
    key: "admin_socket",
    section: "DEFAULT",
    type: { kind: "path" },
    default: "/run/netlet/netlet.sock",
    help: "Unix socket of the admin API (mode 0600).",
  },
  { key: "bind", section: "cluster", type: str, default: "0.0.0.0:7946", help: "Gossip listen address:port (UDP)." },
  {
    key: "advertise",
    section: "cluster",
    type: str,
    default: "",
    help: "Address:port peers use to reach this node. Unset: my_ip and the bind port.",
  },
  {
    key: "join",
    section: "cluster",
    type: { kind: "peer-list" },
    default: "",
    help: "Peers (host:port, comma separated) to join at start-up.",
  },
  {
    key: "name",
    section: "cluster",
    type: str,
    default: "netlet",
    help: "Cluster name, bound into every encrypted message.",
  },
  {
    key: "key_file",
    section: "cluster",
    type: { kind: "path" },
    default: "",
    help: "Keyring file. Unset: $state_path/cluster.keys.",
  },
  {
    key: "block_prefix",
    section: "cluster",
    type: int(24, 30),
    default: "28",
    help: "Size of the address blocks each host owns (fixed ranges are split into /block_prefix).",
  },
];
