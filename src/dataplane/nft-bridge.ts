/**
 * Anti-spoofing in table `bridge netlet` (what libvirt's nwfilter `nova-base` did with ebtables):
 * each VM port is bound to its VIF's MAC, IPv4, IPv6 (EUI-64 and link-local), ARP sender and
 * neighbour-advertisement target. The rules are fixed; a port binding is set elements only.
 */
import ipaddr from "ipaddr.js";
import type { DesiredState, InstanceOnHost, VifOnHost } from "./desired.ts";
import { addChain, addSet, newTable, type Table } from "./nft-model.ts";
import { addUplinkFilter } from "./nft-uplink.ts";

export const BRIDGE_TABLE = "netlet";

/** IPv6 address as the 128-bit integer nft expects for a raw-payload set key. */
function ip6Hex(a: string): string {
  return "0x" + Buffer.from(ipaddr.IPv6.parse(a).toByteArray()).toString("hex");
}

function ip6Of(v: VifOnHost): string[] {
  return [v.ipv6LinkLocal, v.ipv6].filter((x): x is string => !!x);
}

const RULES = [
  "iifname != @vm-ports accept",
  "iifname . ether saddr != @bind-mac counter name spoof-mac drop",
  "ether type != ip ether type != ip6 ether type != arp counter name spoof-ethertype drop",
  "ether type arp iifname . arp saddr ether != @bind-mac counter name spoof-arp drop",
  // ARP probes (RFC 5227) carry sender address 0.0.0.0.
  "ether type arp arp saddr ip 0.0.0.0 accept",
  "ether type arp iifname . ether saddr . arp saddr ip != @bind-ip4 counter name spoof-arp drop",
  "ether type ip ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept",
  "ether type ip iifname . ether saddr . ip saddr != @bind-ip4 counter name spoof-ip4 drop",
  "ether type ip6 icmpv6 type nd-router-advert counter name drop-ra drop",
  // Duplicate address detection and MLD use the unspecified source address.
  "ether type ip6 ip6 saddr :: meta l4proto ipv6-icmp accept",
  "ether type ip6 iifname . ether saddr . ip6 saddr != @bind-ip6 counter name spoof-ip6 drop",
  // The ND target sits at byte 8 of the ICMPv6 header (nft 1.0.6 has no `icmpv6 taddr`).
  "ether type ip6 icmpv6 type nd-neighbor-advert iifname . @th,64,128 != @bind-nd counter name spoof-nd drop",
];

export interface Binding {
  ports: string[];
  mac: string[];
  ip4: string[];
  ip6: string[];
  nd: string[];
}

/** Bindings are remembered per instance object (they depend on nothing else). */
const bindings = new WeakMap<InstanceOnHost, Binding>();

export function binding(inst: InstanceOnHost): Binding {
  const hit = bindings.get(inst);
  if (hit) return hit;
  const b: Binding = { ports: [], mac: [], ip4: [], ip6: [], nd: [] };
  for (const v of inst.vifs) {
    if (!v.port) continue;
    const p = `"${v.port}"`;
    b.ports.push(p);
    b.mac.push(`${p} . ${v.mac}`);
    if (v.ipv4) b.ip4.push(`${p} . ${v.mac} . ${v.ipv4}`);
    for (const a of ip6Of(v)) {
      b.ip6.push(`${p} . ${v.mac} . ${a}`);
      b.nd.push(`${p} . ${ip6Hex(a)}`);
    }
  }
  bindings.set(inst, b);
  return b;
}

/** Build table `bridge netlet` for every VIF whose bridge port is known. */
export function bridgeTable(d: DesiredState): Table {
  const t = newTable("bridge", BRIDGE_TABLE);
  t.counters.push("spoof-mac", "spoof-ethertype", "spoof-arp", "spoof-ip4", "drop-ra", "spoof-ip6", "spoof-nd");
  const all: Binding = { ports: [], mac: [], ip4: [], ip6: [], nd: [] };
  for (const inst of d.instances) {
    const b = binding(inst);
    all.ports.push(...b.ports);
    all.mac.push(...b.mac);
    all.ip4.push(...b.ip4);
    all.ip6.push(...b.ip6);
    all.nd.push(...b.nd);
  }
  addSet(t, "vm-ports", "type ifname;", all.ports);
  addSet(t, "bind-mac", "type ifname . ether_addr;", all.mac);
  addSet(t, "bind-ip4", "type ifname . ether_addr . ipv4_addr;", all.ip4);
  addSet(t, "bind-ip6", "type ifname . ether_addr . ipv6_addr;", all.ip6);
  addSet(t, "bind-nd", "typeof iifname . @th,64,128;", all.nd);
  addChain(t, "prerouting", RULES, "type filter hook prerouting priority -300; policy accept;");
  addUplinkFilter(t, d);
  return t;
}
