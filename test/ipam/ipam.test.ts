import { describe, expect, test } from "bun:test";
import { eui64, linkLocal } from "../../src/net/eui64.ts";
import { isMac, randomMac } from "../../src/net/mac.ts";
import { ip4ToNum, numToIp4, parseCidr4 } from "../../src/net/ip.ts";
import { type NetworkCreateParams, planNetworks } from "../../src/net/network-plan.ts";
import { checkIfName, isIfName } from "../../src/net/ifname.ts";
import { DomainError } from "../../src/util/errors.ts";
import { netParams } from "../store/fixtures.ts";

const base = netParams({ dns1: null });

describe("EUI-64 (rfc2462 backend)", () => {
  test("matches the address the Linux kernel forms (flip U/L bit, insert ff:fe)", () => {
    expect(eui64("02:00:00:00:00:10", "fd00:77::/64")).toBe("fd00:77::ff:fe00:10");
    expect(eui64("fa:16:3e:12:34:56", "2001:db8:1:2::/64")).toBe("2001:db8:1:2:f816:3eff:fe12:3456");
    expect(linkLocal("fa:16:3e:12:34:56")).toBe("fe80::f816:3eff:fe12:3456");
  });
  test("refuses prefixes that are not /64 and malformed MACs", () => {
    expect(() => eui64("fa:16:3e:12:34:56", "fd00::/48")).toThrow("SLAAC needs a /64 prefix");
    expect(() => eui64("fa:16:3e:12:34", "fd00::/64")).toThrow("is not a MAC address");
  });
});

describe("MACs", () => {
  test("random MACs carry nova's fa:16:3e prefix", () => {
    let i = 0;
    const mac = randomMac((n) => Uint8Array.from({ length: n }, () => 0xa0 + i++));
    expect(mac).toBe("fa:16:3e:a0:a1:a2");
    expect(isMac(mac)).toBe(true);
    expect(isMac("fa:16:3e:a0:a1")).toBe(false);
  });
});

describe("address arithmetic", () => {
  test("numbers round-trip and CIDRs are normalised to their network", () => {
    expect(numToIp4(ip4ToNum("10.1.2.3"))).toBe("10.1.2.3");
    expect(ip4ToNum("255.255.255.255")).toBe(2 ** 32 - 1);
    expect(parseCidr4("10.0.0.77/24")).toEqual({ base: ip4ToNum("10.0.0.0"), prefix: 24, size: 256 });
  });
});

describe("network-create plan (nova semantics)", () => {
  test("flat: gateway .1, DHCP server = gateway, start .2, reserved network/gateway/broadcast", () => {
    const [p] = planNetworks(base, []);
    expect(p.gateway).toBe("10.0.0.1");
    expect(p.dhcpServer).toBe("10.0.0.1");
    expect(p.dhcpStart).toBe("10.0.0.2");
    expect(p.netmask).toBe("255.255.255.0");
    expect(p.broadcast).toBe("10.0.0.255");
    const all = Array.from({ length: 256 }, (_, i) => p.fixedFirst + i);
    expect(all.filter(p.reserved).map(numToIp4)).toEqual(["10.0.0.0", "10.0.0.1", "10.0.0.255"]);
  });

  test("vlan mode reserves the VPN address and moves the DHCP start", () => {
    const [p] = planNetworks({ ...base, vlanMode: true, vlan: 100 }, []);
    expect(p.vpnPrivateAddress).toBe("10.0.0.2");
    expect(p.dhcpStart).toBe("10.0.0.3");
    expect(p.reserved(ip4ToNum("10.0.0.2"))).toBe(true);
  });

  test("a separate DHCP server is reserved and skipped by the start address", () => {
    const [p] = planNetworks({ ...base, dhcpServer: "10.0.0.2" }, []);
    expect(p.dhcpStart).toBe("10.0.0.3");
    expect(p.reserved(ip4ToNum("10.0.0.2"))).toBe(true);
  });

  test("fixed_cidr limits the fixed IPs and must lie inside the range", () => {
    const [p] = planNetworks({ ...base, cidr: "10.0.0.0/16", fixedCidr: "10.0.4.0/24" }, []);
    expect(numToIp4(p.fixedFirst)).toBe("10.0.4.0");
    expect(numToIp4(p.fixedLast)).toBe("10.0.4.255");
    expect(() => planNetworks({ ...base, fixedCidr: "10.9.0.0/24" }, [])).toThrow("is not inside --fixed-range-v4");
  });

  test("allowed_start/end reserve everything outside them; gateway defaults to allowed_start", () => {
    const [p] = planNetworks({ ...base, allowedStart: "10.0.0.10", allowedEnd: "10.0.0.20" }, []);
    expect(p.gateway).toBe("10.0.0.10");
    expect(p.reserved(ip4ToNum("10.0.0.9"))).toBe(true);
    expect(p.reserved(ip4ToNum("10.0.0.11"))).toBe(false);
    expect(p.reserved(ip4ToNum("10.0.0.21"))).toBe(true);
  });

  test("splitting: num_networks subnets with _N labels, skipping ones that overlap", () => {
    const plans = planNetworks({ ...base, cidr: "10.0.0.0/22", numNetworks: 3, networkSize: 256 }, [
      { label: "x", cidr: "10.0.1.0/24", cidrV6: null, bridge: "br1", vlan: null, vxlan: null },
    ]);
    expect(plans.map((p) => [p.label, p.cidr])).toEqual([
      ["private_0", "10.0.0.0/24"],
      ["private_1", "10.0.2.0/24"],
      ["private_2", "10.0.3.0/24"],
    ]);
  });

  test("overlap, bad CIDRs, non-/64 IPv6 and used VLAN/VNI are refused with the field named", () => {
    const existing = [
      { label: "a", cidr: "10.0.0.0/16", cidrV6: "fd00:1::/64", bridge: "br100", vlan: 100, vxlan: 42 },
    ];
    const err = (p: Partial<NetworkCreateParams>) => {
      try {
        planNetworks({ ...base, ...p }, existing);
      } catch (e) {
        return [(e as { field: string }).field, (e as Error).message];
      }
      return null;
    };
    expect(err({ cidr: "10.0.3.0/24" })).toEqual([
      "fixed_range_v4",
      "--fixed-range-v4 10.0.3.0/24 overlaps existing network 10.0.0.0/16",
    ]);
    expect(err({ cidr: "10.1.0.0/33" })?.[0]).toBe("fixed_range_v4");
    expect(err({ cidr: "10.1.0.0/24", cidrV6: "fd00:2::/48" })).toEqual([
      "fixed_range_v6",
      "--fixed-range-v6 fd00:2::/48 must be a /64: SLAAC (EUI-64) needs a 64-bit prefix",
    ]);
    expect(err({ cidr: "10.1.0.0/24", cidrV6: "fd00:1::/64" })?.[0]).toBe("fixed_range_v6");
    expect(err({ cidr: "10.1.0.0/24", vlan: 100 })?.[0]).toBe("vlan");
    expect(err({ cidr: "10.1.0.0/24", vxlan: 42 })?.[0]).toBe("vxlan");
    expect(err({ cidr: "10.1.0.0/24", gateway: "10.2.0.1" })).toEqual([
      "gateway",
      "--gateway 10.2.0.1 is outside 10.1.0.0/24",
    ]);
    expect(err({ cidr: null, cidrV6: null })?.[0]).toBe("fixed_range_v4");
  });
});

describe("interface names", () => {
  test("isIfName accepts what Linux and nft accept and refuses the rest; checkIfName names the field", () => {
    for (const ok of ["br100", "eth0", "eth0.100", "tap-1_a", "vnet0", "a", "x".repeat(15), "br@1", "a+b=c"])
      expect([ok, isIfName(ok)]).toEqual([ok, true]);
    for (const bad of [
      "",
      ".",
      "..",
      "x".repeat(16),
      "brü",
      "a{b}",
      "a;b",
      'b"r',
      "a/b",
      "eth0:1",
      "a b",
      "a\tb",
      "a\nb",
      "a\x00",
      "a\x7f",
      "'x'",
      "a\\b",
      "ü".repeat(8),
    ]) {
      expect([bad, isIfName(bad)]).toEqual([bad, false]);
    }
    expect(() => checkIfName("port", "a/b")).toThrow(DomainError);
    try {
      checkIfName("port", "a/b");
    } catch (e) {
      expect((e as DomainError).field).toBe("port");
      expect((e as DomainError).kind).toBe("invalid");
      expect((e as DomainError).message).toMatch(/^port "a\/b" is not a valid interface name/);
    }
  });
});
