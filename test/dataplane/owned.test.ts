/** What netlet added, and the plans that take it away again. */
import { expect, test } from "bun:test";
import { iptablesFlushSteps, netletTables } from "../../src/dataplane/flush.ts";
import type { LinkSnapshot } from "../../src/dataplane/links.ts";
import { EMPTY_OWNED, nextOwned, planFlush, planWithdraw, type Owned } from "../../src/dataplane/owned.ts";
import type { DesiredState } from "../../src/dataplane/desired.ts";

const snap = (links: { ifname: string; master?: string }[], addrs: Record<string, string[]>): LinkSnapshot => ({
  links: links.map((l) => ({ mtu: 1500, ...l })),
  addrs: Object.entries(addrs).map(([ifname, a]) => ({
    ifname,
    addr_info: a.map((x) => ({
      family: x.includes(":") ? "inet6" : "inet",
      local: x.split("/")[0],
      prefixlen: Number(x.split("/")[1]),
    })),
  })),
  routes: [],
  flood: {},
  sysctl: {},
});

const owned: Owned = {
  networks: [
    { bridge: "br1", addrs: ["10.1.0.2/24", "fd00:1::2/64"], devices: ["vxlan7"] },
    { bridge: "br2", addrs: ["10.2.0.2/24"], devices: [] },
  ],
  bridges: ["br1", "br2"],
  devices: ["vxlan7"],
  floating: [{ address: "203.0.113.9", fixedAddress: "10.1.0.3", interface: "eth0" }],
};

test("a withdrawn network loses its addresses and devices; its bridge only when netlet made it and nothing else is attached", () => {
  const cur = snap(
    [{ ifname: "br1" }, { ifname: "vxlan7", master: "br1" }, { ifname: "br2" }, { ifname: "vnet0", master: "br2" }],
    { br1: ["10.1.0.2/24", "fd00:1::2/64"], br2: ["10.2.0.2/24"] },
  );
  expect(planWithdraw(owned, new Set(["br9"]), cur).map((s) => s.argv.join(" "))).toEqual([
    "ip -4 addr del 10.1.0.2/24 dev br1",
    "ip -6 addr del fd00:1::2/64 dev br1",
    "ip link del vxlan7",
    "ip link del br1",
    "ip -4 addr del 10.2.0.2/24 dev br2", // vnet0 is still attached: br2 stays
  ]);
  // Bridges still served are not touched; an operator's bridge (not in `bridges`) is never deleted.
  expect(planWithdraw(owned, new Set(["br1", "br2"]), cur)).toEqual([]);
  expect(
    planWithdraw({ ...owned, bridges: [] }, new Set(), snap([{ ifname: "br1" }], {})).map((s) => s.argv.join(" ")),
  ).toEqual([]);
});

test("only devices netlet created are recorded as its own (an operator's vlan device is not)", () => {
  const d = {
    config: { vlanInterface: "eth1" },
    networks: [
      {
        bridge: "br10",
        hostAddress: "10.9.0.2",
        cidr: "10.9.0.0/24",
        hostAddressV6: null,
        cidrV6: null,
        vxlan: null,
        vlan: 10,
        uplink: null,
      },
      {
        bridge: "br11",
        hostAddress: null,
        cidr: null,
        hostAddressV6: null,
        cidrV6: null,
        vxlan: null,
        vlan: 11,
        uplink: null,
      },
    ],
    standby: [],
    floatingIps: [],
  } as unknown as DesiredState;
  const ran = [
    { argv: ["ip", "link", "add", "br10", "type", "bridge", "forward_delay", "0", "stp_state", "0"], why: "" },
    { argv: ["ip", "link", "add", "link", "eth1", "name", "vlan10", "type", "vlan", "id", "10"], why: "" },
  ];
  const o = nextOwned(EMPTY_OWNED, d, ran, true);
  expect(o.bridges).toEqual(["br10"]);
  expect(o.devices).toEqual(["vlan10"]);
  expect(o.networks).toEqual([
    { bridge: "br10", addrs: ["10.9.0.2/24"], devices: ["vlan10"] },
    { bridge: "br11", addrs: [], devices: [] },
  ]);
});

test("flush takes everything, attached or not, and the floating /32s", () => {
  const cur = snap([{ ifname: "br1" }, { ifname: "br2" }, { ifname: "vnet0", master: "br2" }, { ifname: "eth0" }], {
    eth0: ["203.0.113.9/32"],
  });
  expect(planFlush(owned, cur).map((s) => s.argv.join(" "))).toEqual([
    "ip link del br1",
    "ip link del br2",
    "ip -4 addr del 203.0.113.9/32 dev eth0",
  ]);
});

test("netlet's nft tables and iptables chains are found and removed, nobody else's", () => {
  const json = JSON.stringify({
    nftables: [
      { metainfo: {} },
      { table: { family: "inet", name: "netlet" } },
      { table: { family: "ip", name: "netlet-nat" } },
      { table: { family: "inet", name: "filter" } },
    ],
  });
  expect(netletTables(json)).toEqual([
    { family: "inet", name: "netlet" },
    { family: "ip", name: "netlet-nat" },
  ]);
  const dump = [
    "*nat",
    ":PREROUTING ACCEPT [0:0]",
    ":netlet-PREROUTING - [0:0]",
    "-A PREROUTING -j netlet-PREROUTING",
    "-A PREROUTING -j DOCKER",
    "-A netlet-PREROUTING -d 169.254.169.254/32 -j DNAT --to-destination 10.0.0.1:8775",
    "COMMIT",
  ].join("\n");
  expect(iptablesFlushSteps("iptables", dump).map((s) => s.argv.join(" "))).toEqual([
    "iptables -t nat -D PREROUTING -j netlet-PREROUTING",
    "iptables -t nat -F netlet-PREROUTING",
    "iptables -t nat -X netlet-PREROUTING",
  ]);
});

test("a network back on standby (its last instance gone) loses its address, keeps its bridge; deleted, it loses the bridge too", () => {
  const owned = {
    networks: [{ bridge: "br1", addrs: ["10.1.0.2/24"], devices: [] }],
    bridges: ["br1"],
    devices: [],
    floating: [],
  };
  const cur = snap([{ ifname: "br1" }], { br1: ["10.1.0.2/24"] });
  expect(planWithdraw(owned, new Set(), cur, false, new Set(["br1"])).map((s) => s.argv.join(" "))).toEqual([
    "ip -4 addr del 10.1.0.2/24 dev br1",
  ]);
  expect(planWithdraw(owned, new Set(), cur).map((s) => s.argv.join(" "))).toEqual([
    "ip -4 addr del 10.1.0.2/24 dev br1",
    "ip link del br1",
  ]);
});
