/**
 * The L2 guard in table `bridge netlet` (what libvirt's nwfilter `nova-base` and its
 * clean-traffic filter did with ebtables), bound to declared ports only:
 * - default deny on every bridge netlet manages: a port that is neither a declared VIF port nor
 *   an uplink netlet enslaved itself (flat_interface, vlan<N>, vxlan<N>) sends nothing, and
 *   nothing is sent to it;
 * - a declared port may use only its VIF's MAC, IPv4, IPv6 (link-local and EUI-64) as sources,
 *   ARP and neighbour-advertisement claims, and its own MAC as a DHCP client's chaddr;
 * - guests never act as DHCP servers or IPv6 routers.
 * The rules are fixed; a binding is set elements only, so a plug is an element update.
 */
import ipaddr from "ipaddr.js";
import type { DesiredState, InstanceOnHost, VifOnHost } from "./desired.ts";
import { uplinkOf } from "./links.ts";
import { addChain, addSet, GatherMemo, newTable, type Table } from "./nft-model.ts";
import { addUplinkFilter } from "./nft-uplink.ts";

export const BRIDGE_TABLE = "netlet";

/** Drop counters of the guard, one per reason (`netlet dataplane show`, metrics). */
export const GUARD_COUNTERS = [
  "undeclared-port",
  "spoof-mac",
  "spoof-ethertype",
  "spoof-arp",
  "spoof-ip4",
  "spoof-dhcp",
  "rogue-dhcp",
  "drop-ra",
  "spoof-ip6",
  "spoof-nd",
] as const;

const IP6_TEXT = /^[0-9a-fA-F:]{2,39}$/;

/** `0x` and the groups, each padded to four digits; null when a group is empty or too long. */
function padded(head: string[], zeros: number, tail: string[]): string | null {
  let out = "0x";
  for (const g of head) {
    if (g.length === 0 || g.length > 4) return null;
    out += g.padStart(4, "0");
  }
  out += "0000".repeat(zeros);
  for (const g of tail) {
    if (g.length === 0 || g.length > 4) return null;
    out += g.padStart(4, "0");
  }
  return out.toLowerCase();
}

/**
 * IPv6 address as the 128-bit integer nft expects for a raw-payload set key. The common form
 * (hex groups, at most one `::`) is expanded by hand: parsing every address of a 10,000-instance
 * host with ipaddr.js costs more than the rest of the bridge table. Anything else (an embedded
 * IPv4 address, a zone, a malformed text) goes through ipaddr.js, which also rejects bad input.
 */
export function ip6Hex(a: string): string {
  if (IP6_TEXT.test(a)) {
    const gap = a.indexOf("::");
    if (gap < 0) {
      const groups = a.split(":");
      const hex = groups.length === 8 ? padded(groups, 0, []) : null;
      if (hex) return hex;
    } else if (gap === a.lastIndexOf("::")) {
      const head = gap === 0 ? [] : a.slice(0, gap).split(":");
      const tail = gap + 2 === a.length ? [] : a.slice(gap + 2).split(":");
      const zeros = 8 - head.length - tail.length;
      const hex = zeros >= 1 ? padded(head, zeros, tail) : null;
      if (hex) return hex;
    }
  }
  return `0x${Buffer.from(ipaddr.IPv6.parse(a).toByteArray()).toString("hex")}`;
}

function ip6Of(v: VifOnHost): string[] {
  return [v.ipv6LinkLocal, v.ipv6].filter((x): x is string => !!x);
}

/**
 * Which frames the guard looks at. With `meta ibrname` the bridge says whether a frame is ours;
 * without it (kernels lacking CONFIG_NFT_BRIDGE_META) the ports of other bridges are listed and
 * every other port is treated as one of ours: an unknown port is refused rather than trusted.
 */
function scope(d: DesiredState, dir: "i" | "o"): string[] {
  return d.config.bridgeMeta ? [`meta ${dir}brname != @bridges accept`] : [`${dir}ifname @foreign-ports accept`];
}

// chaddr sits 28 bytes into the DHCP message, after the 8-byte UDP header: bits 288..335.
const CHADDR = "@th,288,48";
// The ND target sits at byte 8 of the ICMPv6 header (nft 1.0.6 has no `icmpv6 taddr`).
const ND_TARGET = "@th,64,128";

const GUARD = [
  "iifname != @vm-ports counter name undeclared-port drop",
  "iifname . ether saddr != @bind-mac counter name spoof-mac drop",
  "ether type != ip ether type != ip6 ether type != arp counter name spoof-ethertype drop",
  "ether type arp iifname . arp saddr ether != @bind-mac counter name spoof-arp drop",
  // ARP probes (RFC 5227) carry sender address 0.0.0.0.
  "ether type arp arp saddr ip 0.0.0.0 accept",
  "ether type arp iifname . ether saddr . arp saddr ip != @bind-ip4 counter name spoof-arp drop",
  "ether type ip udp sport 67 counter name rogue-dhcp drop",
  // A client message may only speak for the port's own MAC: DECLINE, RELEASE and REQUEST
  // can then only ever touch the sender's own lease.
  `ether type ip udp dport 67 iifname . ${CHADDR} != @bind-chaddr counter name spoof-dhcp drop`,
  "ether type ip ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept",
  "ether type ip iifname . ether saddr . ip saddr != @bind-ip4 counter name spoof-ip4 drop",
  "ether type ip6 icmpv6 type { nd-router-advert, nd-redirect } counter name drop-ra drop",
  "ether type ip6 udp sport 547 counter name rogue-dhcp drop",
  // Duplicate address detection: an NS from :: for the VIF's own addresses only; MLD reports
  // may also come from :: before a link-local address exists. Nothing else (no NA) from ::.
  `ether type ip6 ip6 saddr :: icmpv6 type nd-neighbor-solicit iifname . ${ND_TARGET} != @bind-nd counter name spoof-nd drop`,
  "ether type ip6 ip6 saddr :: icmpv6 type { nd-neighbor-solicit, mld-listener-report, mld2-listener-report } accept",
  "ether type ip6 ip6 saddr :: counter name spoof-ip6 drop",
  "ether type ip6 iifname . ether saddr . ip6 saddr != @bind-ip6 counter name spoof-ip6 drop",
  `ether type ip6 icmpv6 type nd-neighbor-advert iifname . ${ND_TARGET} != @bind-nd counter name spoof-nd drop`,
];

export interface Binding {
  ports: string[];
  mac: string[];
  ip4: string[];
  ip6: string[];
  nd: string[];
  chaddr: string[];
}

/** An instance's set elements in the bridge table (they depend on nothing else). */
export function binding(inst: InstanceOnHost): Binding {
  const b: Binding = { ports: [], mac: [], ip4: [], ip6: [], nd: [], chaddr: [] };
  for (const v of inst.vifs) {
    if (!v.port) continue;
    const p = `"${v.port}"`;
    b.ports.push(p);
    b.mac.push(`${p} . ${v.mac}`);
    b.chaddr.push(`${p} . 0x${v.mac.replaceAll(":", "")}`);
    if (v.ipv4) b.ip4.push(`${p} . ${v.mac} . ${v.ipv4}`);
    for (const a of ip6Of(v)) {
      b.ip6.push(`${p} . ${v.mac} . ${a}`);
      b.nd.push(`${p} . ${ip6Hex(a)}`);
    }
  }
  return b;
}

/** The sets that hold bindings, as [Binding key, set name]. */
export const BINDING_SETS: [keyof Binding, string][] = [
  ["ports", "vm-ports"],
  ["mac", "bind-mac"],
  ["ip4", "bind-ip4"],
  ["ip6", "bind-ip6"],
  ["nd", "bind-nd"],
  ["chaddr", "bind-chaddr"],
];

const quote = (n: string) => `"${n}"`;

/** Bridges netlet manages and the ports it enslaved itself. */
export function managedLinks(d: DesiredState): { bridges: string[]; uplinks: string[] } {
  const nets = [...d.networks, ...d.standby];
  const uplinks = nets
    .flatMap((n) => [uplinkOf(d, n), n.vxlan ? `vxlan${n.vxlan.vni}` : null])
    .filter((x): x is string => !!x);
  return { bridges: [...new Set(nets.map((n) => n.bridge))], uplinks: [...new Set(uplinks)] };
}

/**
 * Build table `bridge netlet`; `bindings[i]` is `binding(d.instances[i])`. A caller may remember
 * bindings, and their element lists in `memo`.
 */
export function bridgeTable(
  d: DesiredState,
  bindings: Binding[] = d.instances.map(binding),
  memo = new GatherMemo<Binding>(),
): Table {
  const t = newTable("bridge", BRIDGE_TABLE);
  t.counters.push(...GUARD_COUNTERS);
  memo.begin(bindings);
  const all: Binding = {
    ports: memo.gather("ports", (b) => b.ports),
    mac: memo.gather("mac", (b) => b.mac),
    ip4: memo.gather("ip4", (b) => b.ip4),
    ip6: memo.gather("ip6", (b) => b.ip6),
    nd: memo.gather("nd", (b) => b.nd),
    chaddr: memo.gather("chaddr", (b) => b.chaddr),
  };
  const { bridges, uplinks } = managedLinks(d);
  if (d.config.bridgeMeta) addSet(t, "bridges", "type ifname;", bridges.map(quote));
  else addSet(t, "foreign-ports", "type ifname;", d.foreignPorts.filter((p) => !uplinks.includes(p)).map(quote));
  addSet(t, "uplinks", "type ifname;", uplinks.map(quote));
  addSet(t, "vm-ports", "type ifname;", all.ports);
  addSet(t, "bind-mac", "type ifname . ether_addr;", all.mac);
  addSet(t, "bind-ip4", "type ifname . ether_addr . ipv4_addr;", all.ip4);
  addSet(t, "bind-ip6", "type ifname . ether_addr . ipv6_addr;", all.ip6);
  addSet(t, "bind-nd", `typeof iifname . ${ND_TARGET};`, all.nd);
  addSet(t, "bind-chaddr", `typeof iifname . ${CHADDR};`, all.chaddr);
  addChain(
    t,
    "prerouting",
    [...scope(d, "i"), "iifname @uplinks accept", ...GUARD],
    "type filter hook prerouting priority -300; policy accept;",
  );
  // Nothing reaches an undeclared port either: not another guest's broadcasts, not the host's.
  const egress = [
    ...scope(d, "o"),
    "oifname @uplinks accept",
    "oifname != @vm-ports counter name undeclared-port drop",
  ];
  addChain(t, "forward", egress, "type filter hook forward priority -300; policy accept;");
  addChain(t, "output", egress, "type filter hook output priority -300; policy accept;");
  addUplinkFilter(t, d);
  return t;
}
