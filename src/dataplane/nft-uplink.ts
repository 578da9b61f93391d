/**
 * Local service on a shared segment, in table `bridge netlet`. When a bridge is joined to other
 * hosts' bridges (flat_interface / VLAN uplink, or a VXLAN device), every host serves DHCP, the
 * gateway and RAs for its own guests only — multi_host's point. What would let a guest pick a
 * neighbour host as its server or router is dropped on those ports, in both directions (what
 * nova's ebtables rules did for share_dhcp_address):
 *  - DHCPv4 (UDP 67/68) where this host serves DHCP: a guest's DISCOVER never reaches another
 *    host, and no OFFER enters;
 *  - router solicitations and advertisements where this host sends RAs: each guest sees exactly
 *    one router, its host;
 *  - ARP for a gateway address every host holds (share_dhcp_address), and neighbour discovery
 *    for the IPv6 gateway address (every host has it on the bridge): the address resolves to
 *    the local host's MAC, and duplicate address detection does not fail on the other hosts.
 * A network this host serves for the whole segment (its associated host, not multi_host) is left
 * out: the other hosts only bridge it, and their guests use this host's DHCP, RAs and gateway.
 * Guest-to-guest traffic across hosts is not touched, nor is a protocol netlet does not serve on
 * that network (an external DHCP server or router on the segment keeps working). The rules are fixed; the ports and
 * addresses are set elements. The bridge table is nft under every firewall driver, so this
 * filter needs no ebtables counterpart.
 */
import ipaddr from "ipaddr.js";
import type { DesiredState } from "./desired.ts";
import { uplinkOf } from "./links.ts";
import { addChain, addSet, type Table } from "./nft-model.ts";

/** Per-direction rules: `dir` is `iifname` (entering from another host) or `oifname` (leaving). */
function rules(dir: "iifname" | "oifname"): string[] {
  return [
    `${dir} != @uplink-ports accept`,
    `${dir} @dhcp-ports ether type ip udp dport 67-68 counter name uplink-dhcp drop`,
    `${dir} @ra-ports ether type ip6 icmpv6 type { nd-router-solicit, nd-router-advert } counter name uplink-ra drop`,
    "ether type arp arp saddr ip @shared-ip4 counter name uplink-gateway drop",
    "ether type arp arp daddr ip @shared-ip4 counter name uplink-gateway drop",
    // The ND target sits at byte 8 of the ICMPv6 header (nft 1.0.6 has no `icmpv6 taddr`).
    "ether type ip6 icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } @th,64,128 @shared-nd counter name uplink-gateway drop",
  ];
}

export interface UplinkPorts {
  /** Bridge ports that lead to other hosts: uplinks and VXLAN devices. */
  ports: string[];
  /** The subset on which this host serves DHCPv4, and the one on which it sends RAs. */
  dhcpPorts: string[];
  raPorts: string[];
  /** IPv4 gateway addresses every host on the segment holds. */
  sharedIp4: string[];
  /** IPv6 gateway addresses every host on the segment holds. */
  sharedIp6: string[];
}

/** The ports towards other hosts and the addresses that must stay local, from `d`. */
export function uplinkPorts(d: DesiredState): UplinkPorts {
  const ports = new Set<string>();
  const dhcpPorts = new Set<string>();
  const raPorts = new Set<string>();
  const sharedIp4 = new Set<string>();
  const sharedIp6 = new Set<string>();
  for (const n of d.networks) {
    const joined: string[] = [];
    const up = uplinkOf(d, n);
    if (up) joined.push(up);
    if (n.vxlan) joined.push(`vxlan${n.vxlan.vni}`);
    if (joined.length === 0) continue;
    // Served here for the whole segment: the other hosts' guests must reach it.
    if (n.segment) continue;
    for (const p of joined) {
      ports.add(p);
      if (n.dhcp && n.hostAddress) dhcpPorts.add(p);
      if (n.hostAddressV6) raPorts.add(p);
    }
    if (n.hostAddress && n.hostAddressShared) sharedIp4.add(n.hostAddress);
    if (n.hostAddressV6) sharedIp6.add(n.hostAddressV6);
  }
  return {
    ports: [...ports].sort(),
    dhcpPorts: [...dhcpPorts].sort(),
    raPorts: [...raPorts].sort(),
    sharedIp4: [...sharedIp4].sort(),
    sharedIp6: [...sharedIp6].sort(),
  };
}

function ip6Hex(a: string): string {
  return `0x${Buffer.from(ipaddr.IPv6.parse(a).toByteArray()).toString("hex")}`;
}

/**
 * Add the uplink chains and sets to the bridge table `t`. Nothing is added on a host whose
 * bridges have no port towards other hosts.
 */
export function addUplinkFilter(t: Table, d: DesiredState): void {
  const u = uplinkPorts(d);
  if (u.ports.length === 0) return;
  t.counters.push("uplink-dhcp", "uplink-ra", "uplink-gateway");
  const names = (l: string[]) => l.map((p) => `"${p}"`);
  addSet(t, "uplink-ports", "type ifname;", names(u.ports));
  addSet(t, "dhcp-ports", "type ifname;", names(u.dhcpPorts));
  addSet(t, "ra-ports", "type ifname;", names(u.raPorts));
  addSet(t, "shared-ip4", "type ipv4_addr;", u.sharedIp4);
  addSet(t, "shared-nd", "typeof @th,64,128;", u.sharedIp6.map(ip6Hex));
  // Prerouting sees every frame entering from a port; postrouting every frame leaving one,
  // forwarded or sent by the host itself (per port, also for flooded frames).
  addChain(t, "uplink-in", rules("iifname"), "type filter hook prerouting priority -290; policy accept;");
  addChain(t, "uplink-out", rules("oifname"), "type filter hook postrouting priority -290; policy accept;");
}
