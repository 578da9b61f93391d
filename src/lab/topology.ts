/**
 * The lab's wiring: the underlay namespace is the switch. Bridge `under0` joins the hosts and
 * the "internet" namespace (cluster traffic, public_interface); bridge `flat` is the shared flat
 * segment, on which each host's `flat0` sits — netlet enslaves it to br100 as flat_interface.
 * With VXLAN there is no `flat` bridge: the hosts' br100s meet over `under0`.
 */
import { ns, sh, type LabHost, type LabState, type LabUpOptions } from "./lab.ts";

/** flat_interface of every lab host: its end of the veth to the switch's `flat` bridge. */
export const FLAT_IF = "flat0";

/** The internet namespace's address on the underlay, and a "public server" behind it. */
export const INTERNET_IP = "10.254.0.1";
export const PUBLIC_SERVER = "198.51.100.1";

export function hostConfig(h: LabHost, peers: LabHost[], opts: LabUpOptions): string {
  return [
    "[DEFAULT]",
    `host = ${h.name}`,
    `my_ip = ${h.underlayIp}`,
    `state_path = ${h.stateDir}`,
    "public_interface = under0",
    "flat_network_bridge = br100",
    "multi_host = true",
    `use_ipv6 = ${opts.ipv6}`,
    ...(opts.vxlan ? [] : [`flat_interface = ${FLAT_IF}`]),
    `share_dhcp_address = ${opts.shareDhcpAddress}`,
    "send_arp_for_ha = true",
    "",
    "[cluster]",
    `bind = ${h.underlayIp}:7946`,
    // The first host founds the cluster; the others join through it.
    `join = ${h === peers[0] ? "" : `${peers[0].underlayIp}:7946`}`,
    "",
  ].join("\n");
}

export function addNs(name: string): void {
  sh(["ip", "netns", "add", name]);
  ns(name, ["ip", "link", "set", "lo", "up"]);
}

/** veth from `name` (ifname `inside`) to the underlay bridge. */
function plugUnderlay(state: LabState, name: string, inside: string, peer: string, addr: string): void {
  ns(name, ["ip", "link", "add", inside, "type", "veth", "peer", "name", peer]);
  ns(name, ["ip", "link", "set", peer, "netns", state.underlayNs]);
  ns(state.underlayNs, ["ip", "link", "set", peer, "master", "under0", "up"]);
  ns(name, ["ip", "addr", "add", `${addr}/24`, "dev", inside]);
  ns(name, ["ip", "link", "set", inside, "up"]);
}

/** The shared flat segment: `flat0` in the host, a port of bridge `flat` on the switch. */
function plugFlat(state: LabState, h: LabHost, peer: string): void {
  ns(h.ns, ["ip", "link", "add", FLAT_IF, "type", "veth", "peer", "name", peer]);
  ns(h.ns, ["ip", "link", "set", peer, "netns", state.underlayNs]);
  ns(state.underlayNs, ["ip", "link", "set", peer, "master", "flat", "up"]);
  ns(h.ns, ["ip", "link", "set", FLAT_IF, "up"]);
}

export function makeNetworks(state: LabState, hosts: LabHost[], opts: LabUpOptions): void {
  addNs(state.underlayNs);
  for (const br of opts.vxlan ? ["under0"] : ["under0", "flat"]) {
    ns(state.underlayNs, ["ip", "link", "add", br, "type", "bridge", "forward_delay", "0", "stp_state", "0"]);
    ns(state.underlayNs, ["ip", "link", "set", br, "up"]);
  }
  addNs(state.internetNs!);
  plugUnderlay(state, state.internetNs!, "eth0", "nlu0", INTERNET_IP);
  ns(state.internetNs!, ["ip", "addr", "add", `${PUBLIC_SERVER}/32`, "dev", "lo"]);
  for (const [i, h] of hosts.entries()) {
    addNs(h.ns);
    plugUnderlay(state, h.ns, "under0", `nlu${i + 1}`, h.underlayIp);
    ns(h.ns, ["ip", "route", "add", "default", "via", INTERNET_IP]);
    ns(h.ns, ["ip", "link", "add", "br100", "type", "bridge", "forward_delay", "0", "stp_state", "0"]);
    ns(h.ns, ["ip", "link", "set", "br100", "up"]);
    if (!opts.vxlan) plugFlat(state, h, `nlf${i + 1}`);
  }
}
