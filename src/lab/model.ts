/** What `netlet lab up` was asked for and what it built (saved in state.json). */
export interface LabUpOptions {
  hosts: number;
  vms: number;
  ipv6: boolean;
  vxlan: boolean;
  /** Every host uses the network's gateway address (share_dhcp_address). */
  shareDhcpAddress: boolean;
  /** VMs as network namespaces (fast, default) or as real QEMU guests (TCG). */
  guests?: "netns" | "qemu";
}

export interface LabHost {
  name: string;
  ns: string;
  underlayIp: string;
  socket: string;
  config: string;
  stateDir: string;
  pid: number | null;
}

export interface LabVm {
  name: string;
  ns: string;
  host: string;
  mac: string;
  /** Host-side end of the VM's veth, declared to netlet as the VIF's port. */
  port?: string;
  fixedIp: string | null;
  ipv6: string | null;
  floatingIp: string | null;
  /** Lease state as the VM's DHCP client saw it: the address it got, or null. */
  leased: string | null;
  /** The DHCP server identifier of that lease (its host's address on the bridge). */
  dhcpServer?: string | null;
  /** IPv6 default routers the VM learned from RAs (link-local addresses). */
  routers?: string[];
  /** The instance-id the VM read from 169.254.169.254, or null. */
  metadata: string | null;
  /** A network namespace (default), or a real QEMU guest on a tap in its host's namespace. */
  guest?: "netns" | "qemu";
  uuid?: string;
  /** QEMU guests: the process, the file its serial console is logged to, and the uuid in the
   * OpenStack meta_data.json it read. */
  pid?: number | null;
  console?: string;
  metadataUuid?: string | null;
}

/** One cross-host reachability check: a VM pinged another host's VM. */
export interface CrossHostCheck {
  from: string;
  to: string;
  address: string;
  ok: boolean;
}

export interface LabState {
  /** How the hosts' bridges share one segment: flat_interface on a switch, or VXLAN. */
  segment?: "flat" | "vxlan";
  /** The netlet command the lab runs (binary path, or bun and the entry script). */
  binary?: string;
  hosts: LabHost[];
  vms: LabVm[];
  underlayNs: string;
  internetNs: string | null;
  /** The internet namespace got an answer from the floating IP. */
  floatingReachable: boolean;
  crossHost?: CrossHostCheck[];
}
