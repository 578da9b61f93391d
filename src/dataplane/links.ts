/**
 * Host links as nova-network's LinuxBridgeInterfaceDriver left them: one bridge per network
 * (forward delay 0, STP off), the uplink (flat_interface, or vlan<N> on vlan_interface)
 * enslaved with its addresses and gateway routes moved to the bridge, this host's gateway
 * address first on the bridge, MTU on bridge and uplink, VXLAN devices with flood entries to
 * peer hosts, ip_forward and bridge-nf-call, floating /32s with gratuitous ARP.
 *
 * `planLinks` is pure: it compares the desired state with a snapshot read through `ip -j` and
 * returns only the commands for what differs, so a second run plans nothing.
 */
import ipaddr from "ipaddr.js";
import type { DesiredState, FloatingOnHost, NetworkOnHost } from "./desired.ts";

export interface LinkInfo {
  ifname: string;
  mtu: number;
  master?: string;
  address?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}

export interface AddrInfo {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number; scope?: string }[];
}

export interface RouteInfo {
  dst: string;
  gateway?: string;
  dev: string;
}

export interface LinkSnapshot {
  links: LinkInfo[];
  addrs: AddrInfo[];
  routes: RouteInfo[];
  /** Flood destinations per vxlan device (`00:00:00:00:00:00` FDB entries). */
  flood: Record<string, string[]>;
  sysctl: Record<string, string>;
}

export interface Step {
  argv: string[];
  why: string;
  /** Exit codes that mean "already so" (e.g. conntrack with nothing to delete). */
  tolerate?: number[];
  /** Devices this kernel cannot create are reported, not failed. */
  needsKind?: string;
  /** Started and not waited for (a gratuitous ARP takes its count in seconds): nothing later depends on it. */
  detach?: boolean;
}

export const VXLAN_PORT = 4789;

/** The sysctls this host needs for `d` (read by `readLinks`, set by the plan). */
export function wantedSysctls(d: DesiredState): Record<string, string> {
  const want: Record<string, string> = { "net.ipv4.ip_forward": "1" };
  // Security groups see bridged VM-to-VM traffic only through br_netfilter (no bridge conntrack).
  if (d.config.firewallDriver !== "noop") {
    want["net.bridge.bridge-nf-call-iptables"] = "1";
    want["net.bridge.bridge-nf-call-ip6tables"] = "1";
  }
  // Routing instances' IPv6 needs forwarding; a forwarding host ignores RAs unless accept_ra is
  // 2, so the uplink keeps its own SLAAC address and default route.
  if (d.networks.some((n) => n.hostAddressV6)) {
    want["net.ipv6.conf.all.forwarding"] = "1";
    const pub = d.config.publicInterface;
    if (pub && pub !== "lo" && /^[\w.-]{1,15}$/.test(pub)) want[`net.ipv6.conf.${pub}.accept_ra`] = "2";
  }
  return want;
}

function sysctlSteps(d: DesiredState, cur: LinkSnapshot): Step[] {
  const want = wantedSysctls(d);
  return Object.entries(want)
    .filter(([k, v]) => cur.sysctl[k] !== v)
    .map(([k, v]) => ({ argv: ["sysctl", "-w", `${k}=${v}`], why: `${k} must be ${v}` }));
}

/** Uplink device of a network: explicit, vlan<N> in VLAN mode, or flat_interface. */
export function uplinkOf(d: DesiredState, n: NetworkOnHost): string | null {
  if (n.uplink) return n.uplink;
  if (n.vlan !== null) return d.config.vlanInterface ? `vlan${n.vlan}` : null;
  return d.config.flatInterface;
}

function v4addrs(cur: LinkSnapshot, dev: string): { local: string; prefixlen: number }[] {
  return (cur.addrs.find((a) => a.ifname === dev)?.addr_info ?? []).filter(
    (a) => a.family === "inet" && (a.scope ?? "global") === "global",
  );
}

function hostCidr(n: NetworkOnHost): string | null {
  if (!n.hostAddress || !n.cidr) return null;
  return `${n.hostAddress}/${ipaddr.parseCIDR(n.cidr)[1]}`;
}

function bridgeSteps(d: DesiredState, n: NetworkOnHost, cur: LinkSnapshot): Step[] {
  const steps: Step[] = [];
  const link = (name: string) => cur.links.find((l) => l.ifname === name);
  const br = link(n.bridge);
  const mtu = n.mtu ?? d.config.networkDeviceMtu;
  const up = uplinkOf(d, n);
  // The gateway's MAC is pinned: a bridge left to itself takes its lowest port's MAC, so the
  // guests' gateway would change MAC when that guest goes away. With an uplink, nova's rule
  // holds: the bridge keeps the uplink's MAC (see uplinkSteps).
  const mac = up ? null : n.bridgeMac;
  if (!br) {
    steps.push({
      argv: [
        "ip",
        "link",
        "add",
        n.bridge,
        ...(mac ? ["address", mac] : []),
        "type",
        "bridge",
        "forward_delay",
        "0",
        "stp_state",
        "0",
      ],
      why: `bridge ${n.bridge} is missing`,
    });
  } else if (mac && br.address !== mac)
    steps.push({ argv: ["ip", "link", "set", n.bridge, "address", mac], why: `${n.bridge} has its pinned MAC ${mac}` });
  if (br) {
    const data = br.linkinfo?.info_data ?? {};
    if (data.forward_delay !== 0 || data.stp_state !== 0)
      steps.push({
        argv: ["ip", "link", "set", n.bridge, "type", "bridge", "forward_delay", "0", "stp_state", "0"],
        why: `bridge ${n.bridge} has STP or a forward delay`,
      });
  }
  if (mtu && br?.mtu !== mtu)
    steps.push({ argv: ["ip", "link", "set", n.bridge, "mtu", String(mtu)], why: `MTU of ${n.bridge} must be ${mtu}` });
  const routes: Step[] = [];
  const moved: string[] = [];
  if (up) steps.push(...uplinkSteps(d, n, up, mtu, cur, routes, moved));
  if (n.vxlan) steps.push(...vxlanSteps(n, mtu, cur));
  steps.push(...addressSteps(n, cur, moved));
  if (!br?.flags?.includes("UP"))
    steps.push({ argv: ["ip", "link", "set", n.bridge, "up"], why: `bridge ${n.bridge} is down` });
  // Gateway routes need the moved addresses and a running bridge.
  return [...steps, ...routes];
}

function uplinkSteps(
  d: DesiredState,
  n: NetworkOnHost,
  up: string,
  mtu: number | null,
  cur: LinkSnapshot,
  routes: Step[],
  moved: string[],
): Step[] {
  const steps: Step[] = [];
  const dev = cur.links.find((l) => l.ifname === up);
  if (!dev && n.vlan !== null && d.config.vlanInterface && !n.uplink) {
    steps.push({
      argv: ["ip", "link", "add", "link", d.config.vlanInterface, "name", up, "type", "vlan", "id", String(n.vlan)],
      why: `VLAN device ${up} is missing`,
      needsKind: "vlan",
    });
  }
  if (mtu && dev?.mtu !== mtu)
    steps.push({ argv: ["ip", "link", "set", up, "mtu", String(mtu)], why: `MTU of ${up} must be ${mtu}` });
  if (dev?.master !== n.bridge) {
    steps.push({ argv: ["ip", "link", "set", up, "master", n.bridge], why: `${up} must be enslaved to ${n.bridge}` });
    // nova: the bridge takes the uplink's MAC, addresses and gateway routes.
    if (dev?.address)
      steps.push({
        argv: ["ip", "link", "set", n.bridge, "address", dev.address],
        why: `${n.bridge} keeps ${up}'s MAC`,
      });
    for (const a of v4addrs(cur, up)) {
      steps.push({
        argv: ["ip", "addr", "del", `${a.local}/${a.prefixlen}`, "dev", up],
        why: `move ${a.local} from ${up}`,
      });
      moved.push(`${a.local}/${a.prefixlen}`);
    }
    for (const r of cur.routes.filter((r) => r.dev === up && r.gateway)) {
      routes.push({
        argv: ["ip", "route", "replace", r.dst, "via", r.gateway!, "dev", n.bridge],
        why: `move route ${r.dst} to ${n.bridge}`,
      });
    }
  }
  if (!dev?.flags?.includes("UP")) steps.push({ argv: ["ip", "link", "set", up, "up"], why: `${up} is down` });
  return steps;
}

function vxlanSteps(n: NetworkOnHost, mtu: number | null, cur: LinkSnapshot): Step[] {
  const vx = n.vxlan!;
  const name = `vxlan${vx.vni}`;
  const dev = cur.links.find((l) => l.ifname === name);
  const steps: Step[] = [];
  if (!dev) {
    const argv = [
      "ip",
      "link",
      "add",
      name,
      "type",
      "vxlan",
      "id",
      String(vx.vni),
      "dstport",
      String(VXLAN_PORT),
      "nolearning",
    ];
    if (vx.local) argv.push("local", vx.local);
    if (vx.underlay) argv.push("dev", vx.underlay);
    steps.push({ argv, why: `VXLAN device ${name} is missing` });
  }
  if (mtu && dev?.mtu !== mtu)
    steps.push({ argv: ["ip", "link", "set", name, "mtu", String(mtu)], why: `MTU of ${name} must be ${mtu}` });
  if (dev?.master !== n.bridge)
    steps.push({ argv: ["ip", "link", "set", name, "master", n.bridge], why: `${name} must be in ${n.bridge}` });
  const have = new Set(cur.flood[name] ?? []);
  for (const p of vx.peers)
    if (!have.has(p))
      steps.push({
        argv: ["bridge", "fdb", "append", "00:00:00:00:00:00", "dev", name, "dst", p],
        why: `flood to peer ${p}`,
      });
  for (const p of have)
    if (!vx.peers.includes(p))
      steps.push({ argv: ["bridge", "fdb", "del", "00:00:00:00:00:00", "dev", name, "dst", p], why: `peer ${p} left` });
  if (!dev?.flags?.includes("UP")) steps.push({ argv: ["ip", "link", "set", name, "up"], why: `${name} is down` });
  return steps;
}

/** The host address must be the bridge's first IPv4 address (dnsmasq-era rule kept by DHCP). */
function addressSteps(n: NetworkOnHost, cur: LinkSnapshot, moved: string[]): Step[] {
  const want = hostCidr(n);
  const steps: Step[] = [];
  const have = v4addrs(cur, n.bridge).map((a) => `${a.local}/${a.prefixlen}`);
  const reorder = want !== null && have[0] !== want;
  if (reorder) {
    for (const a of have)
      steps.push({ argv: ["ip", "addr", "del", a, "dev", n.bridge], why: `re-order addresses of ${n.bridge}` });
    steps.push({
      argv: ["ip", "addr", "add", want, "dev", n.bridge],
      why: `host address ${want} first on ${n.bridge}`,
    });
  }
  const readd = reorder ? have.filter((a) => a !== want) : [];
  for (const a of [...readd, ...moved.filter((m) => !readd.includes(m) && (reorder || !have.includes(m)))]) {
    steps.push({
      argv: ["ip", "addr", "add", a, "dev", n.bridge],
      why: `${a} on ${n.bridge} after the host address`,
      tolerate: [2],
    });
  }
  if (n.hostAddressV6 && n.cidrV6) {
    const plen = ipaddr.parseCIDR(n.cidrV6)[1];
    const have = (cur.addrs.find((a) => a.ifname === n.bridge)?.addr_info ?? []).some(
      (a) => a.family === "inet6" && a.local === n.hostAddressV6,
    );
    if (!have)
      steps.push({
        argv: ["ip", "-6", "addr", "add", `${n.hostAddressV6}/${plen}`, "dev", n.bridge],
        why: `host IPv6 address on ${n.bridge}`,
      });
  }
  return steps;
}

function floatingSteps(d: DesiredState, prev: FloatingOnHost[], cur: LinkSnapshot): Step[] {
  const steps: Step[] = [];
  const has = (dev: string, a: string) =>
    (cur.addrs.find((x) => x.ifname === dev)?.addr_info ?? []).some((i) => i.local === a && i.prefixlen === 32);
  const key = (f: FloatingOnHost) => `${f.address}|${f.fixedAddress}|${f.interface}`;
  const wanted = new Set(d.floatingIps.map(key));
  for (const f of prev) {
    if (wanted.has(key(f))) continue;
    if (
      !d.floatingIps.some((g) => g.address === f.address && g.interface === f.interface) &&
      has(f.interface, f.address)
    ) {
      steps.push({
        argv: ["ip", "addr", "del", `${f.address}/32`, "dev", f.interface],
        why: `floating ${f.address} disassociated`,
      });
    }
    // Established flows would keep using the old translation; nova: conntrack -D -r <fixed>.
    steps.push({
      argv: ["conntrack", "-D", "-r", f.fixedAddress],
      why: `flush flows DNATed to ${f.fixedAddress}`,
      tolerate: [1],
    });
    steps.push({
      argv: ["conntrack", "-D", "-q", f.address],
      why: `flush flows SNATed to ${f.address}`,
      tolerate: [1],
    });
  }
  for (const f of d.floatingIps) {
    if (has(f.interface, f.address)) continue;
    steps.push({
      argv: ["ip", "addr", "add", `${f.address}/32`, "dev", f.interface],
      why: `floating ${f.address} served here`,
      tolerate: [2],
    });
    // Debian's arping (Habets): -U -P = unsolicited ARP reply, nova's `arping -U -A` (iputils).
    // One always: an address that moved here (a migrated instance, a hand-over) must pull its
    // neighbours' ARP caches away from the host that served it; send_arp_for_ha sends more.
    const n = String(d.config.sendArpForHa ? d.config.sendArpForHaCount : 1);
    steps.push({
      argv: ["arping", "-U", "-P", "-q", "-c", n, "-w", n, "-i", f.interface, "-S", f.address, f.address],
      why: `gratuitous ARP for ${f.address}`,
      tolerate: [1],
      detach: true,
    });
  }
  return steps;
}

/** Commands that bring the host's links from `cur` to `d` (empty when nothing differs). */
export function planLinks(d: DesiredState, cur: LinkSnapshot, prevFloating: FloatingOnHost[] = []): Step[] {
  return [
    ...sysctlSteps(d, cur),
    ...[...d.networks, ...d.standby].flatMap((n) => bridgeSteps(d, n, cur)),
    ...floatingSteps(d, prevFloating, cur),
  ];
}
