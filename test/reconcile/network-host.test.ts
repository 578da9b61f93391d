/**
 * A network that is not multi_host, associated with one host (nova network-associate-host): that
 * host serves it for every instance; the others only bridge it. The decision, and what the host
 * view hands DHCP, RA, DNS and the dataplane on each side.
 */
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import type { FloatingIp, Network } from "../../src/model.ts";
import { floatingServedBy, networkRole, readHostView } from "../../src/reconcile/host-view.ts";
import { dhcpBridges } from "../../src/reconcile/dhcp.ts";
import { createRaPlanner } from "../../src/reconcile/ra.ts";
import { desiredState } from "../../src/reconcile/dataplane.ts";
import { createDnsPlanner } from "../../src/reconcile/dns.ts";
import { uplinkPorts } from "../../src/dataplane/nft-uplink.ts";
import { filterTable } from "../../src/dataplane/nft-filter.ts";
import { associateHost, createNetworks, disassociateNetwork } from "../../src/store/networks.ts";
import { bootInstance } from "../../src/store/instances.ts";
import { SqliteReplicaStore } from "../../src/store/replica.ts";
import type { Store } from "../../src/store/db.ts";
import { bootParams, memStore, netParams } from "../store/fixtures.ts";
import { rowsSince } from "../replication/rows.ts";

const net = (p: Partial<Network>): Network => ({ id: "n1", multiHost: false, host: null, ...p }) as Network;

describe("networkRole", () => {
  test("multi_host: a host serves the networks it has instances on, whatever host is recorded", () => {
    expect(networkRole(net({ multiHost: true }), "a", true)).toBe("serve");
    expect(networkRole(net({ multiHost: true }), "a", false)).toBe("none");
    // An association on a multi_host network (refused by the API; a replicated oddity) changes nothing.
    expect(networkRole(net({ multiHost: true, host: "b" }), "a", true)).toBe("serve");
    expect(networkRole(net({ multiHost: true, host: "a" }), "a", false)).toBe("none");
  });

  test("not multi_host and associated: the host serves it for the segment, with or without instances; others bridge", () => {
    expect(networkRole(net({ host: "a" }), "a", false)).toBe("serve-segment");
    expect(networkRole(net({ host: "a" }), "a", true)).toBe("serve-segment");
    expect(networkRole(net({ host: "a" }), "b", true)).toBe("bridge");
    expect(networkRole(net({ host: "a" }), "b", false)).toBe("none");
  });

  test("not multi_host without a host: each host with instances serves them (as before an association)", () => {
    expect(networkRole(net({}), "a", true)).toBe("serve");
    expect(networkRole(net({}), "a", false)).toBe("none");
  });
});

describe("floatingServedBy", () => {
  const fip = (address: string, host: string, fixedNetworkId: string | null): FloatingIp =>
    ({ address, host, fixedAddress: "10.0.0.5", fixedNetworkId }) as FloatingIp;
  const nets = [net({ id: "single", host: "a" }), net({ id: "multi", multiHost: true, host: null })];

  test("a floating IP of an instance on an associated network is the associated host's", () => {
    const all = [
      fip("198.51.100.1", "b", "single"),
      fip("198.51.100.2", "b", "multi"),
      fip("198.51.100.3", "a", "multi"),
    ];
    expect(floatingServedBy(all, nets, "a").map((f) => f.address)).toEqual(["198.51.100.1", "198.51.100.3"]);
    expect(floatingServedBy(all, nets, "b").map((f) => f.address)).toEqual(["198.51.100.2"]);
    expect(floatingServedBy([{ ...all[0], fixedAddress: null }], nets, "a")).toEqual([]);
  });
});

/** Every row of `from` applied to `to`, as gossip would. */
function sync(from: Store, to: Store): void {
  const src = new SqliteReplicaStore(from);
  const dst = new SqliteReplicaStore(to);
  for (const origin of src.heads().keys()) for (const row of rowsSince(src, origin, "", 100_000)) dst.apply(row);
}

/** Hosts a and b; network "single" (not multi_host, VXLAN), associated with a; one instance on b. */
function twoHosts(conf = "use_ipv6 = true\n") {
  const a = memStore("node-a");
  const b = memStore("node-b");
  const config = parseConfig(conf).config;
  createNetworks(
    a,
    netParams({
      label: "single",
      cidr: "10.9.0.0/24",
      cidrV6: "fd00:9::/64",
      bridge: "br9",
      vxlan: 9,
      multiHost: false,
    }),
  );
  createNetworks(a, netParams({ label: "multi", cidr: "10.8.0.0/24", bridge: "br8" }));
  associateHost(a, "single", "node-a", ["node-a", "node-b"]);
  sync(a, b);
  bootInstance(b, bootParams({ name: "guest", networks: ["single"] }));
  sync(b, a);
  return { a, b, config };
}

describe("host view of an associated network", () => {
  test("the associated host serves it for the guest of another host: address, DHCP entry, RA, DNS listener", () => {
    const { a, config } = twoHosts();
    const view = readHostView(a, config);
    expect(view.served.map((s) => [s.network.label, s.hostAddress, s.segment])).toEqual([["single", "10.9.0.1", true]]);
    expect(view.bridged).toEqual([]);
    const [br] = dhcpBridges(view);
    expect(br.bridge).toBe("br9");
    expect(br.hosts.map((h) => [h.hostname, h.address, h.router, h.serverId])).toEqual([
      ["guest", "10.9.0.2", "10.9.0.1", "10.9.0.1"],
    ]);
    expect(createRaPlanner()(view).bridges.map((x) => [x.bridge, x.removed])).toEqual([["br9", false]]);
    expect(createDnsPlanner(() => [])(view, []).listeners.map((l) => [l.address, l.bridge])).toContainEqual([
      "10.9.0.1",
      "br9",
    ]);
    const d = desiredState(view);
    expect(d.networks.map((n) => [n.bridge, n.hostAddress, n.segment, n.dhcp])).toEqual([
      ["br9", "10.9.0.1", true, true],
    ]);
    // Guests of the other hosts reach this host's DHCP, RAs and gateway over the VXLAN device.
    expect(uplinkPorts(d)).toMatchObject({ dhcpPorts: [], raPorts: [], sharedIp4: [], sharedIp6: [] });
    // No local instance: nothing bound here.
    expect(d.instances).toEqual([]);
  });

  test("the other host only bridges it: no address, no DHCP, RA or DNS; the guest is still bound to its port", () => {
    const { b, config } = twoHosts();
    const view = readHostView(b, config);
    expect(view.served).toEqual([]);
    expect(view.bridged.map((x) => [x.network.label, x.server])).toEqual([["single", "10.9.0.1"]]);
    expect(view.standby.map((n) => n.label)).toEqual(["multi"]);
    expect(dhcpBridges(view)).toEqual([]);
    expect(createRaPlanner()(view).bridges).toEqual([]);
    expect(createDnsPlanner(() => [])(view, []).listeners).toEqual([]);
    const d = desiredState(view);
    expect(d.networks).toEqual([]);
    const single = d.standby.find((n) => n.bridge === "br9")!;
    expect(single).toMatchObject({
      hostAddress: null,
      hostAddressV6: null,
      dhcp: false,
      cidr: "10.9.0.0/24",
      remoteServer: "10.9.0.1",
      vxlan: { vni: 9 },
    });
    expect(d.instances.map((i) => i.vifs.map((v) => [v.bridge, v.ipv4]))).toEqual([[["br9", "10.9.0.2"]]]);
    // Its security-group filter accepts the serving host's DHCP replies and the network's own traffic.
    const rules = [...filterTable(d).chains.values()].flatMap((c) => c.rules);
    expect(rules).toContain("ip saddr 10.9.0.1 udp sport 67 udp dport 68 accept");
    expect(rules).toContain("ip saddr 10.9.0.0/24 accept");
  });

  test("re-associating moves serving; disassociating returns to each host serving its own instances", () => {
    const { a, b, config } = twoHosts();
    associateHost(a, "single", "node-b", ["node-a", "node-b"]);
    sync(a, b);
    const va = readHostView(a, config);
    expect([va.served, va.bridged]).toEqual([[], []]);
    expect(va.standby.map((n) => n.label)).toEqual(["single", "multi"]);
    const vb = readHostView(b, config);
    expect(vb.served.map((s) => [s.network.label, s.hostAddress, s.segment])).toEqual([["single", "10.9.0.1", true]]);
    expect(dhcpBridges(vb)[0].hosts.map((h) => h.serverId)).toEqual(["10.9.0.1"]);
    disassociateNetwork(b, "single", { project: false, host: true });
    const local = readHostView(b, config);
    expect(local.served.map((s) => [s.network.label, s.segment])).toEqual([["single", false]]);
    expect(uplinkPorts(desiredState(local)).dhcpPorts).toEqual(["vxlan9"]);
  });
});
