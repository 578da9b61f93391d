/**
 * What netlet added to the host's links, so that it can take it away again: per network, the
 * host addresses it put on the bridge and the devices it created (vxlan<VNI>, vlan<N>); the
 * bridges it created itself; the floating /32s it plumbed. Kept in the store's local meta table
 * (it survives restarts) and planned against a fresh `ip -j` snapshot like every other step:
 * a network withdrawn from this host (deleted, or no longer served) loses its addresses, and
 * its bridge when netlet created it and nothing else is attached; `netlet dataplane flush`
 * withdraws everything. Pure.
 */
import ipaddr from "ipaddr.js";
import type { DesiredState, FloatingOnHost, NetworkOnHost } from "./desired.ts";
import type { LinkSnapshot, Step } from "./links.ts";

export interface OwnedNetwork {
  bridge: string;
  /** CIDR-form addresses netlet put on the bridge (IPv4 and IPv6). */
  addrs: string[];
  /** Devices netlet created for the network. */
  devices: string[];
}

export interface Owned {
  networks: OwnedNetwork[];
  /** Bridges netlet created (not ones an operator or libvirt made). */
  bridges: string[];
  /** VXLAN and VLAN devices netlet created. */
  devices: string[];
  floating: FloatingOnHost[];
}

export const EMPTY_OWNED: Owned = { networks: [], bridges: [], devices: [], floating: [] };

export function parseOwned(text: string | null): Owned {
  if (!text) return EMPTY_OWNED;
  try {
    const o = JSON.parse(text) as Partial<Owned>;
    return {
      networks: o.networks ?? [],
      bridges: o.bridges ?? [],
      devices: o.devices ?? [],
      floating: o.floating ?? [],
    };
  } catch {
    return EMPTY_OWNED;
  }
}

/** A network's record: its host addresses, and the devices for it that netlet created itself. */
function ownedNetwork(d: DesiredState, n: NetworkOnHost, created: ReadonlySet<string>): OwnedNetwork {
  const addrs: string[] = [];
  if (n.hostAddress && n.cidr) addrs.push(`${n.hostAddress}/${ipaddr.parseCIDR(n.cidr)[1]}`);
  if (n.hostAddressV6 && n.cidrV6) addrs.push(`${n.hostAddressV6}/${ipaddr.parseCIDR(n.cidrV6)[1]}`);
  const candidates = [
    n.vxlan ? `vxlan${n.vxlan.vni}` : null,
    n.vlan !== null && !n.uplink && d.config.vlanInterface ? `vlan${n.vlan}` : null,
  ];
  return { bridge: n.bridge, addrs, devices: candidates.filter((x): x is string => x !== null && created.has(x)) };
}

/**
 * The ownership record after a pass for `d` that ran `ran`: bridges it created are added,
 * bridges it deleted removed; withdrawn networks are forgotten once every step succeeded (else
 * kept, so the next pass tries again).
 */
export function nextOwned(prev: Owned, d: DesiredState, ran: readonly Step[], complete: boolean): Owned {
  const adds = ran.filter((s) => s.argv[0] === "ip" && s.argv[1] === "link" && s.argv[2] === "add");
  // `ip link add NAME type bridge|vxlan …` and `ip link add link PARENT name NAME type vlan …`.
  const nameOf = (s: Step) => (s.argv[3] === "link" ? s.argv[s.argv.indexOf("name") + 1] : s.argv[3]);
  const typeOf = (s: Step) => s.argv[s.argv.indexOf("type") + 1];
  const deleted = new Set(ran.filter((s) => s.argv[1] === "link" && s.argv[2] === "del").map((s) => s.argv[3]));
  const bridges = [...new Set([...prev.bridges, ...adds.filter((s) => typeOf(s) === "bridge").map(nameOf)])].filter(
    (b) => !deleted.has(b),
  );
  const devices = [...new Set([...prev.devices, ...adds.filter((s) => typeOf(s) !== "bridge").map(nameOf)])].filter(
    (x) => !deleted.has(x),
  );
  // A standby network (no instance here yet) keeps its bridge and devices, not an address.
  const nets = [...d.networks, ...d.standby];
  const live = new Set(nets.map((n) => n.bridge));
  const withdrawn = complete ? [] : prev.networks.filter((n) => !live.has(n.bridge));
  const created = new Set(devices);
  return {
    networks: [...nets.map((n) => ownedNetwork(d, n, created)), ...withdrawn],
    bridges,
    devices,
    floating: d.floatingIps,
  };
}

const family = (cidr: string) => (cidr.includes(":") ? "-6" : "-4");

function hasAddr(cur: LinkSnapshot, dev: string, cidr: string): boolean {
  const [a, len] = cidr.split("/");
  return (cur.addrs.find((x) => x.ifname === dev)?.addr_info ?? []).some(
    (i) => i.local === a && i.prefixlen === Number(len),
  );
}

/**
 * Steps that take away what `owned` records for bridges `keep` does not serve: addresses,
 * created devices, and created bridges with nothing else attached (`force`: attached or not).
 * Bridges in `keepLinks` (standby: the network may get an instance here) lose only addresses.
 */
export function planWithdraw(
  owned: Owned,
  keep: ReadonlySet<string>,
  cur: LinkSnapshot,
  force = false,
  keepLinks: ReadonlySet<string> = keep,
): Step[] {
  const steps: Step[] = [];
  const exists = (name: string) => cur.links.some((l) => l.ifname === name);
  for (const n of owned.networks) {
    if (keep.has(n.bridge)) continue;
    for (const a of n.addrs) {
      if (hasAddr(cur, n.bridge, a))
        steps.push({
          argv: ["ip", family(a), "addr", "del", a, "dev", n.bridge],
          why: `${n.bridge} no longer serves ${a}`,
        });
    }
    if (keepLinks.has(n.bridge)) continue;
    for (const dev of n.devices)
      if (exists(dev)) steps.push({ argv: ["ip", "link", "del", dev], why: `${dev} was created for ${n.bridge}` });
    if (!owned.bridges.includes(n.bridge) || !exists(n.bridge)) continue;
    const others = cur.links.filter((l) => l.master === n.bridge && !n.devices.includes(l.ifname)).map((l) => l.ifname);
    if (others.length && !force) continue; // still in use: an instance's tap, an operator's port
    steps.push({ argv: ["ip", "link", "del", n.bridge], why: `netlet created ${n.bridge} and nothing else uses it` });
  }
  return steps;
}

/** `netlet dataplane flush`: every address, device, bridge and floating /32 netlet added. */
export function planFlush(owned: Owned, cur: LinkSnapshot): Step[] {
  const all: Owned = {
    ...owned,
    networks: [
      ...owned.networks,
      ...owned.bridges
        .filter((b) => !owned.networks.some((n) => n.bridge === b))
        .map((bridge) => ({ bridge, addrs: [], devices: [] })),
    ],
  };
  const steps = planWithdraw(all, new Set(), cur, true);
  const gone = new Set(steps.map((s) => s.argv.join(" ")));
  for (const dev of owned.devices) {
    const del = ["ip", "link", "del", dev];
    if (cur.links.some((l) => l.ifname === dev) && !gone.has(del.join(" ")))
      steps.push({ argv: del, why: `${dev} was created by netlet` });
  }
  for (const f of owned.floating) {
    if (hasAddr(cur, f.interface, `${f.address}/32`))
      steps.push({
        argv: ["ip", "-4", "addr", "del", `${f.address}/32`, "dev", f.interface],
        why: `floating ${f.address}`,
      });
  }
  return steps;
}
