import { expect, test } from "bun:test";
import type { Network } from "../../src/model.ts";
import { bridgeConfigsFor } from "../../src/ra/networks.ts";

function net(id: string, over: Partial<Network>): Network {
  return {
    origin: "n1",
    hlc: "0",
    deleted: false,
    id,
    label: id,
    cidr: "10.0.0.0/24",
    cidrV6: "fd00::/64",
    fixedCidr: null,
    netmask: null,
    broadcast: null,
    gateway: null,
    gatewayV6: null,
    dhcpServer: null,
    dhcpStart: null,
    bridge: "br100",
    bridgeInterface: null,
    vlan: null,
    vxlan: null,
    dns1: "8.8.4.4",
    dns2: null,
    mtu: null,
    multiHost: true,
    projectId: null,
    enableDhcp: true,
    shareAddress: false,
    allowedStart: null,
    allowedEnd: null,
    vpnPrivateAddress: null,
    priority: null,
    host: null,
    createdAt: 0,
    ...over,
  };
}

const opts = { dhcpDomain: "novalocal", defaultMtu: 1500 };

test("a network becomes one bridge entry with IPv6 DNS servers only and the DHCP domain", () => {
  const { bridges, refused } = bridgeConfigsFor([net("a", { dns2: "fd00::53", mtu: 1450 })], opts);
  expect(refused).toEqual([]);
  expect(bridges).toEqual([
    {
      bridge: "br100",
      prefix: "fd00::/64",
      mtu: 1450,
      rdnss: ["fd00::53"],
      dnssl: ["novalocal"],
      lifetimes: undefined,
      removed: false,
    },
  ]);
});

test("IPv4-only networks are skipped, deleted ones are marked removed, the default MTU applies", () => {
  const { bridges } = bridgeConfigsFor([net("a", { cidrV6: null }), net("b", { bridge: "br101", deleted: true })], {
    dhcpDomain: null,
    defaultMtu: 1400,
  });
  expect(bridges).toEqual([
    { bridge: "br101", prefix: "fd00::/64", mtu: 1400, rdnss: [], dnssl: [], lifetimes: undefined, removed: true },
  ]);
});

test("bad records are refused one by one with the reason", () => {
  const { bridges, refused } = bridgeConfigsFor(
    [
      net("a", {}),
      net("b", { cidrV6: "fd00:1::/64" }),
      net("c", { bridge: "br102", cidrV6: "fd00:2::/56" }),
      net("d", { bridge: "br103", mtu: 1000 }),
    ],
    opts,
  );
  expect(bridges.map((b) => b.bridge)).toEqual(["br100"]);
  expect(refused.map((r) => r.networkId)).toEqual(["b", "c", "d"]);
  expect(refused[0].error).toContain("network a already advertises there");
  expect(refused[1].error).toContain("needs a /64");
  expect(refused[2].error).toContain("MTU");
});

test("a deleted network does not withdraw the live network that reuses its bridge", () => {
  const { bridges, refused } = bridgeConfigsFor(
    [net("old", { deleted: true, cidrV6: "fd00:9::/64" }), net("new", {})],
    opts,
  );
  expect(refused).toEqual([]);
  expect(bridges.map((b) => [b.prefix, b.removed])).toEqual([["fd00::/64", false]]);
});
