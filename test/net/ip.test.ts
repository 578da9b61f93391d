/** The one IPv4/IPv6 helper module: text, numbers and wire bytes agree, and bad text is refused. */
import { expect, test } from "bun:test";
import { broadcast4, ip4Bytes, ip4Text, ip4ToNum, isIpv4, netmask4, numToIp4 } from "../../src/net/ip.ts";
import { leaseKey } from "../../src/model.ts";

test("bytes, text and numbers of an IPv4 address round-trip", () => {
  expect(ip4Bytes("10.77.0.200")).toEqual([10, 77, 0, 200]);
  expect(ip4Bytes("10.77.0.200")).toEqual([10, 77, 0, 200]); // a memoised hit gives the same answer
  expect(ip4Text(Uint8Array.of(0, 10, 77, 0, 200), 1)).toBe("10.77.0.200");
  expect(numToIp4(ip4ToNum("192.168.1.254"))).toBe("192.168.1.254");
  expect(ip4ToNum("255.255.255.255")).toBe(0xffffffff);
});

test("only dotted quads are IPv4 addresses on the wire", () => {
  for (const bad of ["10.0.0", "10.0.0.256", "0x0a.0.0.1", "fd00::1", ""]) {
    expect(isIpv4(bad)).toBe(false);
    expect(() => ip4Bytes(bad)).toThrow(`not an IPv4 address: ${bad}`);
  }
});

test("netmask and directed broadcast of a prefix", () => {
  expect(netmask4(24)).toBe("255.255.255.0");
  expect(netmask4(0)).toBe("0.0.0.0");
  expect(broadcast4("10.77.0.10", 24)).toBe("10.77.0.255");
  expect(broadcast4("10.77.0.10", 30)).toBe("10.77.0.11");
});

test("a lease's key is its network and MAC", () => {
  expect(leaseKey("net-1", "02:00:00:00:00:0a")).toBe("net-1/02:00:00:00:00:0a");
});
