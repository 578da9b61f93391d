/**
 * `netlet doctor`: what the checks read and what they return. The checks are pure functions of
 * a `HostFacts` snapshot and a `DoctorTarget` (what this host is configured to serve), so tests
 * feed hand-written facts; `host.ts` is the only part that reads /proc and runs commands.
 */

export type Status = "ok" | "warn" | "fail";

export interface CheckResult {
  /** Stable name, e.g. "ip_forward", "dhcp-conflict". */
  id: string;
  status: Status;
  /** What was found, in one or two sentences. */
  summary: string;
  /** Commands or steps that fix it; only for warn and fail. */
  fix?: string;
}

/** A command's outcome; null in HostFacts means the program is not installed. */
export interface CommandFact {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Whether the kernel can create a link kind: loaded (in /sys/module or /proc/modules),
 * builtin (modules.builtin), module (modinfo finds it: loaded on first use), created (a
 * throw-away device in a temporary namespace worked), missing, or unknown (could not tell).
 */
export type KindState = "loaded" | "builtin" | "module" | "created" | "missing" | "unknown";

export interface KindFact {
  state: KindState;
  detail?: string;
}

export interface ProcessFact {
  pid: number;
  argv: string[];
  /** Configuration files the process names (or its default one), read by the shell; null = unreadable. */
  files: Record<string, string | null>;
}

export interface PathFact {
  path: string;
  exists: boolean;
  writable: boolean;
  /** When the path does not exist: the nearest existing parent and whether it is writable. */
  parent?: string;
  parentWritable?: boolean;
}

export interface HostFacts {
  /** `nft --version`, `nft list tables`; null when nft is not installed. */
  nftVersion: CommandFact | null;
  nftList: CommandFact | null;
  /** `ip -V` and `ip -j link show` (netlet reads the host through iproute2's JSON). */
  ipVersion: CommandFact | null;
  ipJson: CommandFact | null;
  /** Programs on PATH: bridge, sysctl, conntrack, arping, iptables-restore, ip6tables-restore. */
  tools: Record<string, boolean>;
  kinds: Record<"bridge" | "veth" | "vxlan", KindFact>;
  /** Values by sysctl name (see `sysctlName`); null when the key does not exist. */
  sysctl: Record<string, string | null>;
  /** Link names present in this network namespace. */
  interfaces: string[];
  /** dnsmasq, radvd, dhcpd, kea-dhcp4 and nova-network processes in this network namespace. */
  processes: ProcessFact[];
  statePath: PathFact;
  socketDir: PathFact;
}

/** What this host is configured to do, from the configuration file (and the agent, if it runs). */
export interface DoctorTarget {
  firewallDriver: "nftables" | "iptables" | "noop";
  useIpv6: boolean;
  sendArpForHa: boolean;
  publicInterface: string;
  /** Bridges netlet serves (or will serve) here. */
  bridges: string[];
  /** dns_service: netlet listens on port 53 of its bridge addresses (default true). */
  dnsService?: boolean;
  /** Where the bridge list came from, for the messages: "the agent", "the configuration". */
  bridgesFrom: string;
  statePath: string;
  adminSocket: string;
}

/**
 * sysctl(8) name of a key built from path parts: dots inside an interface name become "/"
 * (`net.ipv4.conf.eth0/100.rp_filter`), as sysctl expects.
 */
export function sysctlName(parts: string[]): string {
  return parts.map((p) => p.replaceAll(".", "/")).join(".");
}

/** /proc/sys path of a sysctl name (the inverse of `sysctlName`). */
export function sysctlPath(name: string): string {
  return `/proc/sys/${name
    .split(".")
    .map((p) => p.replaceAll("/", "."))
    .join("/")}`;
}

export const rpFilterKey = (iface: string) => sysctlName(["net", "ipv4", "conf", iface, "rp_filter"]);
export const IP_FORWARD = "net.ipv4.ip_forward";
export const IPV6_FORWARDING = "net.ipv6.conf.all.forwarding";
export const BRIDGE_NF_IPTABLES = "net.bridge.bridge-nf-call-iptables";
export const BRIDGE_NF_IP6TABLES = "net.bridge.bridge-nf-call-ip6tables";

/** The sysctl keys the checks read for a target; the shell reads exactly these. */
export function wantedSysctls(t: DoctorTarget): string[] {
  const keys = [
    IP_FORWARD,
    IPV6_FORWARDING,
    BRIDGE_NF_IPTABLES,
    BRIDGE_NF_IP6TABLES,
    rpFilterKey("all"),
    rpFilterKey("default"),
  ];
  for (const i of [t.publicInterface, ...t.bridges]) keys.push(rpFilterKey(i));
  return [...new Set(keys)];
}
