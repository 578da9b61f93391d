import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { readHostView } from "../../src/reconcile/host-view.ts";
import { dhcpBridges } from "../../src/reconcile/dhcp.ts";
import { createRaPlanner } from "../../src/reconcile/ra.ts";
import { desiredState } from "../../src/reconcile/dataplane.ts";
import { createNetworks } from "../../src/store/networks.ts";
import { bootInstance, deleteInstance } from "../../src/store/instances.ts";
import { addRule } from "../../src/store/secgroups.ts";
import { bootParams, memStore, netParams } from "../store/fixtures.ts";
import { eui64 } from "../../src/net/eui64.ts";

function setup(conf = "") {
  const store = memStore("node-a");
  createNetworks(
    store,
    netParams({ label: "one", cidr: "10.0.0.0/24", cidrV6: "fd00:1::/64", mtu: 1450, dns2: "192.0.2.53" }),
  );
  createNetworks(store, netParams({ label: "two", cidr: "10.1.0.0/24", bridge: "br101" }));
  bootInstance(store, bootParams({ name: "web", networks: ["one", "two"] }));
  return { store, config: parseConfig(conf).config };
}

describe("host view → module configuration", () => {
  test("DHCP: one table per bridge, the host's own address as router and server, nova's names", () => {
    const { store, config } = setup();
    const bridges = dhcpBridges(readHostView(store, config));
    expect(bridges.map((b) => b.bridge)).toEqual(["br100", "br101"]);
    const [h] = bridges[0].hosts;
    expect(h).toMatchObject({
      address: "10.0.0.3",
      prefixLength: 24,
      router: "10.0.0.2",
      serverId: "10.0.0.2",
      dnsServers: ["10.0.0.2"],
      hostname: "web",
      domain: "novalocal",
      searchDomains: ["novalocal"],
      mtu: 1450,
      leaseTime: 86400,
      primary: true,
    });
    expect(h.classlessRoutes).toEqual([{ destination: "169.254.169.254/32", gateway: "10.0.0.2" }]);
    expect(bridges[1].hosts[0]).toMatchObject({ router: "10.1.0.2", primary: false, dnsServers: ["10.1.0.2"] });
    // dns_service = false: the network's own servers, as before the DNS service.
    const off = setup("dns_service = false\n");
    expect(dhcpBridges(readHostView(off.store, off.config))[0].hosts[0].dnsServers).toEqual(["8.8.4.4", "192.0.2.53"]);
  });

  test("DHCP: use_single_default_gateway gives no router to the second NIC; dns_server replaces the network's", () => {
    const { store, config } = setup("use_single_default_gateway = true\ndns_server = 192.0.2.1\ndns_service = false\n");
    const bridges = dhcpBridges(readHostView(store, config));
    expect(bridges[0].hosts[0].router).toBe("10.0.0.2");
    expect(bridges[1].hosts[0].router).toBeNull();
    expect(bridges[1].hosts[0].dnsServers).toEqual(["192.0.2.1"]);
  });

  test("RA: only with use_ipv6, only bridges of networks with a /64; a network no longer served is withdrawn once", () => {
    const a = setup();
    expect(createRaPlanner()(readHostView(a.store, a.config)).bridges).toEqual([]);
    const b = setup("use_ipv6 = true\n");
    const plan = createRaPlanner();
    const first = plan(readHostView(b.store, b.config)).bridges;
    expect(first.map((x) => [x.bridge, x.prefix, x.mtu, x.rdnss, x.dnssl, x.removed])).toEqual([
      ["br100", "fd00:1::/64", 1450, ["fd00:1::1"], ["novalocal"], false],
    ]);
    deleteInstance(b.store, "web");
    const after = plan(readHostView(b.store, b.config)).bridges;
    expect(after.map((x) => [x.bridge, x.removed])).toEqual([["br100", true]]);
    expect(plan(readHostView(b.store, b.config)).bridges).toEqual([]);
  });

  test("dataplane: config, served networks with host addresses, instances with groups, cluster-wide members", () => {
    const { store, config } = setup("dmz_cidr = 10.128.0.0/24\n");
    addRule(store, "default", "admin", {
      direction: "ingress",
      protocol: "tcp",
      fromPort: 22,
      toPort: 22,
      cidr: null,
      sourceGroup: "default",
    });
    const d = desiredState(readHostView(store, config));
    expect(d.config.dmzCidr).toEqual(["10.128.0.0/24"]);
    expect(d.networks.map((n) => [n.bridge, n.hostAddress])).toEqual([
      ["br100", "10.0.0.2"],
      ["br101", "10.1.0.2"],
    ]);
    expect(d.instances[0].groups).toEqual(["default-admin"]);
    expect(d.instances[0].vifs.map((v) => v.ipv6)).toEqual([eui64(d.instances[0].vifs[0].mac, "fd00:1::/64"), null]);
    expect(d.members["default-admin"].v4).toEqual(["10.0.0.3", "10.1.0.3"]);
    expect(d.groups[0].rules[0]).toMatchObject({ protocol: "tcp", fromPort: 22, sourceGroupId: "default-admin" });
  });
});
