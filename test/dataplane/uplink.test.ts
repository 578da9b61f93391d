/** The uplink filter of `bridge netlet`: which ports and addresses it covers, and that nft takes it. */
import { afterAll, describe, expect, test } from "bun:test";
import { desiredFromFixture, type Fixture } from "../../src/dataplane/desired.ts";
import { bridgeTable } from "../../src/dataplane/nft-bridge.ts";
import { renderTables } from "../../src/dataplane/nft-model.ts";
import { render } from "../../src/dataplane/nft-render.ts";
import { uplinkPorts } from "../../src/dataplane/nft-uplink.ts";
import { Lab, nsRun, requireNetns } from "../harness/netns.ts";

const net = { id: "n1", bridge: "br100", cidr: "10.0.0.0/24", hostAddress: "10.0.0.3" };
const vm = { uuid: "u1", vifs: [{ mac: "fa:16:3e:00:00:0a", network: "n1", ipv4: "10.0.0.10", port: "vnet0" }] };

function fixture(f: Partial<Fixture>): Fixture {
  return { networks: [net], instances: [vm], ...f };
}

describe("uplink filter", () => {
  test("a bridge without a port towards other hosts gets no uplink chains", () => {
    const t = bridgeTable(desiredFromFixture(fixture({})));
    expect([...t.chains.keys()].filter((c) => c.startsWith("uplink"))).toEqual([]);
    expect(t.sets.has("uplink-ports")).toBe(false);
  });

  test("flat_interface, VLAN devices and VXLAN devices are the uplink ports; their networks' shared gateways stay local", () => {
    const d = desiredFromFixture({
      config: { flatInterface: "eth1", vlanInterface: "bond0" },
      networks: [
        { ...net, cidrV6: "fd00:10::/64", hostAddressV6: "fd00:10::1" },
        { id: "n2", bridge: "br102", cidr: "10.2.0.0/24", hostAddress: "10.2.0.1", hostAddressShared: true, vlan: 102 },
        {
          id: "n3",
          bridge: "br103",
          cidr: "10.3.0.0/24",
          hostAddress: "10.3.0.1",
          hostAddressShared: true,
          uplink: null,
          vxlan: { vni: 103, peers: ["192.0.2.2"], local: null, underlay: null },
        },
      ],
    });
    // n3 has no explicit uplink: flat_interface applies to it as well, and its VXLAN device.
    expect(uplinkPorts(d)).toEqual({
      ports: ["eth1", "vlan102", "vxlan103"],
      dhcpPorts: ["eth1", "vlan102", "vxlan103"],
      raPorts: ["eth1"],
      sharedIp4: ["10.2.0.1", "10.3.0.1"],
      sharedIp6: ["fd00:10::1"],
    });
    const text = renderTables([bridgeTable(d)]);
    expect(text).toContain('add element bridge netlet uplink-ports { "eth1", "vlan102", "vxlan103" }');
    expect(text).toContain("add element bridge netlet shared-ip4 { 10.2.0.1, 10.3.0.1 }");
    expect(text).toContain("add element bridge netlet shared-nd { 0xfd000010000000000000000000000001 }");
    // Both directions: entering from another host and leaving towards one.
    expect(text).toContain("add rule bridge netlet uplink-in iifname != @uplink-ports accept");
    expect(text).toContain("add rule bridge netlet uplink-out oifname != @uplink-ports accept");
    for (const chain of ["uplink-in", "uplink-out"]) {
      const dir = chain === "uplink-in" ? "iifname" : "oifname";
      expect(text).toContain(
        `add rule bridge netlet ${chain} ${dir} @dhcp-ports ether type ip udp dport 67-68 counter name uplink-dhcp drop`,
      );
      expect(text).toContain(
        `add rule bridge netlet ${chain} ${dir} @ra-ports ether type ip6 icmpv6 type { nd-router-solicit, nd-router-advert } counter name uplink-ra drop`,
      );
    }
  });

  test("a host address of its own (multi_host without share_dhcp_address) is not filtered", () => {
    const d = desiredFromFixture(fixture({ config: { flatInterface: "eth1" } }));
    expect(uplinkPorts(d)).toEqual({ ports: ["eth1"], dhcpPorts: ["eth1"], raPorts: [], sharedIp4: [], sharedIp6: [] });
  });

  test("where netlet serves no DHCP (enable_dhcp off) and sends no RAs, an external server and router on the segment still reach the guests", () => {
    const d = desiredFromFixture(fixture({ config: { flatInterface: "eth1" }, networks: [{ ...net, dhcp: false }] }));
    expect(uplinkPorts(d)).toMatchObject({ ports: ["eth1"], dhcpPorts: [], raPorts: [] });
  });
});

describe.skipIf(!requireNetns())("uplink filter in the kernel", () => {
  const lab = new Lab();
  afterAll(() => lab.cleanup());

  test("nft accepts the rendered tables with uplink chains, under both firewall drivers", () => {
    const ns = lab.addNamespace("nlup");
    for (const firewallDriver of ["nftables", "iptables"] as const) {
      const d = desiredFromFixture(
        fixture({
          config: { flatInterface: "eth1", firewallDriver },
          networks: [{ ...net, hostAddressShared: true, cidrV6: "fd00:10::/64", hostAddressV6: "fd00:10::1" }],
        }),
      );
      nsRun(ns, ["nft", "-f", "-"], { input: render(d) });
      const listing = nsRun(ns, ["nft", "list", "table", "bridge", "netlet"]).stdout;
      expect(listing).toContain("chain uplink-in");
      expect(listing).toContain("chain uplink-out");
      expect(listing).toMatch(/elements = \{ "eth1" \}/);
    }
  });
});
