/**
 * HostView → DNS plan, next to what DHCP and RA hand out: guests are told exactly the addresses
 * the server listens on (multi_host, share_dhcp_address, single host), and upstreams come from
 * dns_server, else the network's dns1/dns2, else the host's resolv.conf, never ourselves.
 */
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { readHostView } from "../../src/reconcile/host-view.ts";
import { dhcpBridges } from "../../src/reconcile/dhcp.ts";
import { createRaPlanner } from "../../src/reconcile/ra.ts";
import { createDnsPlanner } from "../../src/reconcile/dns.ts";
import { createNetworks } from "../../src/store/networks.ts";
import { bootInstance } from "../../src/store/instances.ts";
import { bootParams, memStore, netParams } from "../store/fixtures.ts";

function setup(conf: string, net: Parameters<typeof netParams>[0] = {}) {
  const store = memStore("node-a");
  createNetworks(store, netParams({ label: "one", cidr: "10.0.0.0/24", cidrV6: "fd00:1::/64", ...net }));
  const vm = bootInstance(store, bootParams({ name: "web", networks: ["one"] }));
  return { view: readHostView(store, parseConfig(conf).config), vm };
}

describe("DNS plan", () => {
  for (const [mode, conf, net] of [
    ["multi_host", "", {}],
    ["share_dhcp_address", "", { shareAddress: true }],
    ["single host", "", { multiHost: false }],
  ] as const) {
    test(`${mode}: DHCP option 6 and RDNSS name exactly the addresses the server listens on`, () => {
      const { view } = setup(`use_ipv6 = true\n${conf}`, net);
      const plan = createDnsPlanner(() => [])(view, []);
      const dns = dhcpBridges(view)[0].hosts[0].dnsServers;
      const rdnss = createRaPlanner()(view).bridges[0].rdnss;
      expect(plan.listeners.map((l) => l.address).sort()).toEqual([...dns, ...rdnss].sort());
      expect(plan.listeners.find((l) => l.address === dns[0])!.allowed).toEqual(["10.0.0.0/24"]);
    });
  }

  test("upstreams: dns_server, else dns1/dns2, else resolv.conf; our own addresses never", () => {
    const resolv = () => ["10.0.0.2", "192.0.2.53"];
    expect(createDnsPlanner(resolv)(setup("dns_server = 198.51.100.1").view, []).listeners[0].upstreams).toEqual([
      "198.51.100.1",
    ]);
    expect(
      createDnsPlanner(resolv)(setup("", { dns1: "8.8.4.4", dns2: "10.0.0.2" }).view, []).listeners[0].upstreams,
    ).toEqual(["8.8.4.4"]);
    expect(createDnsPlanner(resolv)(setup("", { dns1: null }).view, []).listeners[0].upstreams).toEqual(["192.0.2.53"]);
  });

  test("the zone has every instance with its project, floating IPs as PTR; the serial moves only with the content", () => {
    const { view, vm } = setup("");
    const planner = createDnsPlanner(() => []);
    const fip = { address: "203.0.113.5", instanceUuid: vm.uuid } as Parameters<
      ReturnType<typeof createDnsPlanner>
    >[1][number];
    const a = planner(view, [fip]);
    expect(a.zone.names.get("web.novalocal")).toEqual([
      { project: vm.projectId, v4: [view.allVifs[0].address!], v6: [view.allVifs[0].addressV6!] },
    ]);
    expect(a.zone.ptr.get("5.113.0.203.in-addr.arpa")?.target).toBe("web.novalocal");
    expect(planner(view, [fip]).zone.serial).toBe(a.zone.serial);
    expect(planner(view, []).zone.serial).toBeGreaterThan(a.zone.serial);
  });
});
