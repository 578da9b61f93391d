/** Floating ranges against this host's own subnets: nova's pool-from-the-public-subnet layout stays allowed, addresses in use and other bridges' subnets do not. */
import { describe, expect, test } from "bun:test";
import { parseCidr4 } from "../../src/net/ip.ts";
import { floatingRangeClash, type HostSubnet } from "../../src/net/host-subnets.ts";
import { parseProcRoute } from "../../src/sys/host-subnets.ts";

const HOSTS: HostSubnet[] = [
  { iface: "eth0", address: "198.51.100.10", cidr: "198.51.100.0/24", bridge: false, gateways: ["198.51.100.1"] },
  { iface: "virbr0", address: "192.168.122.1", cidr: "192.168.122.0/24", bridge: true, gateways: [] },
  { iface: "br-ex", address: "203.0.113.2", cidr: "203.0.113.0/24", bridge: true, gateways: [] },
  { iface: "eth1", address: "2001:db8::10", cidr: "2001:db8::/64" },
];
const clash = (range: string, iface = "eth0") => floatingRangeClash(parseCidr4(range), iface, HOSTS);

describe("floatingRangeClash", () => {
  test("a pool carved out of the public interface's subnet, clear of addresses in use, is allowed", () => {
    expect(clash("198.51.100.64/28")).toBeNull();
    expect(clash("198.51.100.254/32")).toBeNull();
    // A bridge that is the pool's own interface (br-ex as public_interface) is its public subnet.
    expect(clash("203.0.113.64/28", "br-ex")).toBeNull();
    // Nothing of this host's around it.
    expect(clash("10.99.0.0/24")).toBeNull();
  });

  test("the host's address, its gateway, the subnet's network and broadcast addresses are refused, named", () => {
    expect(clash("198.51.100.8/29")).toBe("contains this host's own address 198.51.100.10 on eth0");
    expect(clash("198.51.100.1/32")).toBe(
      "contains 198.51.100.1, the gateway of this host's subnet 198.51.100.0/24 on eth0",
    );
    expect(clash("198.51.100.0/32")).toBe(
      "contains 198.51.100.0, the network address of this host's subnet 198.51.100.0/24 on eth0",
    );
    expect(clash("198.51.100.252/30")).toBe(
      "contains 198.51.100.255, the broadcast address of this host's subnet 198.51.100.0/24 on eth0",
    );
    // A range larger than the subnet holds all of them; the first reason found is given.
    expect(clash("198.51.100.0/23")).toBe("contains this host's own address 198.51.100.10 on eth0");
  });

  test("another bridge's subnet is refused even clear of its addresses; other interfaces' subnets are not", () => {
    expect(clash("192.168.122.128/28")).toBe("overlaps bridge virbr0's subnet 192.168.122.0/24 on this host");
    expect(clash("203.0.113.64/28")).toBe("overlaps bridge br-ex's subnet 203.0.113.0/24 on this host");
    expect(clash("198.51.100.64/28", "eth1")).toBeNull();
  });
});

describe("parseProcRoute", () => {
  test("gateways per interface; on-link routes and malformed lines are left out", () => {
    const text = [
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT",
      "eth0\t00000000\t016433C6\t0003\t0\t0\t0\t00000000\t0\t0\t0",
      "eth0\t006433C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0",
      "eth1\t0000000A\t0200000A\t0003\t0\t0\t0\t0000FFFF\t0\t0\t0",
      "garbage",
      "eth2\t00000000\tnothex!!\t0003",
    ].join("\n");
    expect(parseProcRoute(text)).toEqual([
      { iface: "eth0", gateway: "198.51.100.1" },
      { iface: "eth1", gateway: "10.0.0.2" },
    ]);
    expect(parseProcRoute("")).toEqual([]);
  });
});
