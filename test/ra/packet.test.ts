import { describe, expect, test } from "bun:test";
import { buildRa, encodeDomains, parseRs, type RouterAdvert } from "../../src/ra/packet.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ""), "hex"));

const base: RouterAdvert = {
  curHopLimit: 64,
  managed: false,
  other: false,
  preference: "medium",
  routerLifetime: 30,
  reachableTimeMs: 0,
  retransTimerMs: 0,
  sourceMac: "02:00:00:00:00:10",
  mtu: 1450,
  prefixes: [
    { prefix: "fd00:77::/64", onLink: true, autonomous: true, validLifetime: 86400, preferredLifetime: 14400 },
  ],
  rdnss: { servers: ["fd00:77::1"], lifetime: 30 },
  dnssl: { domains: ["novalocal"], lifetime: 30 },
  routes: [{ prefix: "fd00:99::/48", preference: "high", lifetime: 1800 }],
};

describe("buildRa", () => {
  test("encodes header and every option byte for byte", () => {
    const want =
      "8600 0000 40 00 001e 00000000 00000000" + // type, code, checksum, hop limit, flags, lifetime, timers
      "0101 020000000010" + // SLLA
      "0501 0000 000005aa" + // MTU 1450
      "0304 40 c0 00015180 00003840 00000000 fd000077000000000000000000000000" + // PIO L|A
      "1802 30 08 00000708 fd00009900000000" + // RIO /48, Prf high
      "1903 0000 0000001e fd000077000000000000000000000001" + // RDNSS
      "1f03 0000 0000001e 096e6f76616c6f63616c00 0000000000"; // DNSSL "novalocal" padded
    expect(hex(buildRa(base))).toBe(hex(bytes(want)));
  });

  test("M/O flags and low preference land in the flags byte; empty options are left out", () => {
    const ra = buildRa({
      ...base,
      managed: true,
      other: true,
      preference: "low",
      sourceMac: null,
      mtu: null,
      prefixes: [],
      rdnss: null,
      dnssl: { domains: [], lifetime: 30 },
      routes: [],
    });
    expect(hex(ra)).toBe("8600000040d8001e0000000000000000"); // M=0x80 O=0x40 Prf=11<<3
  });

  test("host bits of a prefix are cleared and zero lifetimes are encoded as zero", () => {
    const ra = buildRa({
      ...base,
      sourceMac: null,
      mtu: null,
      rdnss: null,
      dnssl: null,
      routes: [],
      routerLifetime: 0,
      prefixes: [{ prefix: "fd00:77::1/64", onLink: true, autonomous: true, validLifetime: 0, preferredLifetime: 0 }],
    });
    expect(hex(ra.subarray(6, 8))).toBe("0000");
    expect(hex(ra.subarray(16))).toBe(
      "030440c0" + "00000000" + "00000000" + "00000000" + "fd000077000000000000000000000000",
    );
  });

  test("route information uses 1, 2 or 3 units by prefix length", () => {
    const opt = (prefix: string) =>
      buildRa({
        ...base,
        sourceMac: null,
        mtu: null,
        prefixes: [],
        rdnss: null,
        dnssl: null,
        routes: [{ prefix, preference: "medium", lifetime: 60 }],
      }).subarray(16);
    expect(hex(opt("::/0"))).toBe("18010000" + "0000003c");
    expect(hex(opt("fd00:1:2:3:4::/80"))).toBe("18035000" + "0000003c" + "fd000001000200030004000000000000");
  });

  test("rejects configuration that cannot be advertised", () => {
    expect(() => buildRa({ ...base, mtu: 1000 })).toThrow(RangeError);
    expect(() => buildRa({ ...base, routerLifetime: 70000 })).toThrow(RangeError);
    expect(() => buildRa({ ...base, prefixes: [{ ...base.prefixes[0], preferredLifetime: 90000 }] })).toThrow(
      RangeError,
    );
    expect(() => buildRa({ ...base, sourceMac: "02:00:00:00:00" })).toThrow(TypeError);
    expect(() => encodeDomains(["bad domain.org"])).toThrow(RangeError);
    expect(() => encodeDomains([`${"a".repeat(64)}.org`])).toThrow(RangeError);
  });

  test("several search domains are encoded back to back", () => {
    expect(hex(encodeDomains(["a.b", "c."]))).toBe("0161016200016300");
  });
});

describe("parseRs", () => {
  const ll = "fe80::ff:fe00:10";
  const rs = bytes("8500 0000 00000000 0101 020000000010");

  test("accepts an RS with SLLAO and returns the MAC", () => {
    expect(parseRs(rs, { hopLimit: 255, source: ll })).toEqual({
      ok: true,
      rs: { source: ll, sourceMac: "02:00:00:00:00:10" },
    });
  });

  test("accepts a bare RS from the unspecified address", () => {
    expect(parseRs(rs.subarray(0, 8), { hopLimit: 255, source: "::" })).toEqual({
      ok: true,
      rs: { source: "::", sourceMac: null },
    });
  });

  test("accepts unknown options it skips", () => {
    const withNonce = bytes("8500 0000 00000000 0e01 010203040506 0101 020000000010");
    expect(parseRs(withNonce, { hopLimit: 255, source: ll }).ok).toBe(true);
  });

  const cases: [string, Uint8Array, number | null, string, string][] = [
    ["hop limit 64", rs, 64, ll, "hop-limit"],
    ["missing hop limit", rs, null, ll, "hop-limit"],
    ["code 1", bytes("8501 0000 00000000"), 255, ll, "bad-code"],
    ["not an RS", bytes("8600 0000 00000000"), 255, ll, "not-rs"],
    ["shorter than 8", bytes("8500 0000"), 255, ll, "short"],
    ["oversized", new Uint8Array(1300).fill(0x85, 0, 1), 255, ll, "oversized"],
    ["zero-length option", bytes("8500 0000 00000000 0100 020000000010"), 255, ll, "zero-length-option"],
    ["option past the end", bytes("8500 0000 00000000 0102 020000000010"), 255, ll, "option-overrun"],
    ["one trailing byte", bytes("8500 0000 00000000 01"), 255, ll, "option-overrun"],
    [
      "SLLAO of the wrong size",
      bytes("8500 0000 00000000 0102 02000000001000000000000000000000"),
      255,
      ll,
      "bad-sllao",
    ],
    ["SLLAO from ::", rs, 255, "::", "sllao-from-unspecified"],
  ];
  for (const [name, pkt, hop, src, reason] of cases) {
    test(`drops ${name} (${reason})`, () => {
      expect(parseRs(pkt, { hopLimit: hop, source: src })).toEqual({ ok: false, reason: reason as never });
    });
  }
});
