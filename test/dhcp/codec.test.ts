import { describe, expect, test } from "bun:test";
import { mulberry32 } from "../../src/cluster/sim/prng.ts";
import { decode, encode, MAX_LEN, PAD_TO, type OutMessage } from "../../src/dhcp/codec.ts";
import {
  classlessRoutes,
  domainSearch,
  Opt,
  readClasslessRoutes,
  readDomainSearch,
  readIp,
  readIps,
  readU16,
  readU32,
  str,
  u32,
} from "../../src/dhcp/options.ts";
import { realPackets, dhcpcdDiscover, udhcpcDiscover } from "./fixtures/real-packets.ts";

function reply(options: [number, Uint8Array][]): OutMessage {
  return {
    op: 2,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0xdeadbeef,
    secs: 0,
    flags: 0x8000,
    ciaddr: "0.0.0.0",
    yiaddr: "10.0.0.5",
    siaddr: "0.0.0.0",
    giaddr: "10.0.0.1",
    chaddr: Uint8Array.of(2, 0, 0, 0, 0, 0x42),
    options,
  };
}

describe("decode real client packets", () => {
  test("udhcpc DISCOVER", () => {
    const d = decode(udhcpcDiscover);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.message.op).toBe(1);
    expect(Buffer.from(d.message.chaddr).toString("hex")).toBe("020000000042");
    expect(d.message.options.get(Opt.MessageType)).toEqual(Uint8Array.of(1));
    expect(readU16(d.message.options.get(Opt.MaxMessageSize))).toBe(576);
    expect([...d.message.options.get(Opt.ParameterList)!]).toEqual([1, 3, 6, 12, 15, 26, 28, 42, 121]);
  });
  test("dhcpcd DISCOVER carries a DUID client id and max size 1472", () => {
    const d = decode(dhcpcdDiscover);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.message.options.get(Opt.ClientId)![0]).toBe(0xff);
    expect(readU16(d.message.options.get(Opt.MaxMessageSize))).toBe(1472);
  });
});

describe("decode errors", () => {
  const base = udhcpcDiscover;
  test("truncated, oversized, cookie, hlen", () => {
    expect(decode(base.subarray(0, 239))).toEqual({ ok: false, error: "truncated" });
    expect(decode(new Uint8Array(MAX_LEN + 1))).toEqual({ ok: false, error: "oversized" });
    const bad = base.slice();
    bad[236] = 0;
    expect(decode(bad)).toEqual({ ok: false, error: "bad_cookie" });
    const hlen = base.slice();
    hlen[2] = 17;
    expect(decode(hlen)).toEqual({ ok: false, error: "bad_hlen" });
  });
  test("option running past the end", () => {
    const p = base.slice(0, 244);
    p[240] = 53;
    p[241] = 10;
    expect(decode(p)).toEqual({ ok: false, error: "option_overrun" });
    const q = base.slice(0, 241);
    q[240] = 53;
    expect(decode(q)).toEqual({ ok: false, error: "option_overrun" });
  });
  test("overload: options in file and sname are read; bad values rejected", () => {
    const p = new Uint8Array(300);
    p.set([1, 1, 6, 0], 0);
    p.set([99, 130, 83, 99], 236);
    p.set([52, 1, 3, 255], 240);
    p.set([53, 1, 3, 255], 108); // file
    p.set([12, 2, 0x68, 0x69, 255], 44); // sname
    const d = decode(p);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.message.options.get(53)).toEqual(Uint8Array.of(3));
    expect(new TextDecoder().decode(d.message.options.get(12))).toBe("hi");
    p[242] = 4;
    expect(decode(p)).toEqual({ ok: false, error: "bad_overload" });
    p[242] = 1;
    p.set([52, 1, 1, 255], 108);
    expect(decode(p)).toEqual({ ok: false, error: "bad_overload" });
  });
  test("repeated options are concatenated (RFC 3396)", () => {
    const p = new Uint8Array(300);
    p.set([99, 130, 83, 99], 236);
    p.set([53, 1, 1, 119, 2, 1, 0x61, 119, 1, 0, 255], 240);
    const d = decode(p);
    expect(d.ok && readDomainSearch(d.message.options.get(119))).toEqual(["a"]);
  });
});

describe("encode", () => {
  test("round trip, padded to 300 bytes", () => {
    const out = encode(
      reply([
        [53, Uint8Array.of(5)],
        [54, Uint8Array.of(10, 0, 0, 1)],
        [51, u32(86400)],
      ]),
    );
    expect(out.bytes.length).toBe(PAD_TO);
    expect(out.dropped).toEqual([]);
    const d = decode(out.bytes);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.message.xid).toBe(0xdeadbeef);
    expect(d.message.flags).toBe(0x8000);
    expect(d.message.yiaddr).toBe("10.0.0.5");
    expect(d.message.giaddr).toBe("10.0.0.1");
    expect(readIp(d.message.options.get(54))).toBe("10.0.0.1");
    expect(readU32(d.message.options.get(51))).toBe(86400);
  });
  test("values over 255 bytes are split and rejoin", () => {
    const long = new Uint8Array(600).fill(7);
    const out = encode(reply([[43, long]]), 1400);
    const d = decode(out.bytes);
    expect(d.ok && d.message.options.get(43)).toEqual(long);
  });
  test("options that do not fit the client's limit are left out, later ones still go in", () => {
    const out = encode(
      reply([
        [53, Uint8Array.of(5)],
        [43, new Uint8Array(400)],
        [12, str("vm1")],
      ]),
      548,
    );
    expect(out.dropped).toEqual([43]);
    expect(out.bytes.length).toBeLessThanOrEqual(548);
    const d = decode(out.bytes);
    expect(d.ok && new TextDecoder().decode(d.message.options.get(12))).toBe("vm1");
  });
});

describe("option values", () => {
  test("classless routes RFC 3442 encoding", () => {
    const routes = [
      { destination: "169.254.169.254/32", gateway: "10.0.0.1" },
      { destination: "0.0.0.0/0", gateway: "10.0.0.1" },
      { destination: "10.20.0.0/15", gateway: "10.0.0.2" },
    ];
    const v = classlessRoutes(routes);
    expect([...v.subarray(0, 9)]).toEqual([32, 169, 254, 169, 254, 10, 0, 0, 1]);
    expect([...v.subarray(9, 14)]).toEqual([0, 10, 0, 0, 1]);
    expect(readClasslessRoutes(v)).toEqual(routes);
    expect(readClasslessRoutes(Uint8Array.of(33, 1, 2, 3, 4, 5))).toBeNull();
    expect(readClasslessRoutes(Uint8Array.of(24, 10, 0))).toBeNull();
  });
  test("domain search RFC 3397 wire format, with compression on read", () => {
    const v = domainSearch(["novalocal", "example.org."]);
    expect([...v]).toEqual([
      9,
      ...new TextEncoder().encode("novalocal"),
      0,
      7,
      ...new TextEncoder().encode("example"),
      3,
      111,
      114,
      103,
      0,
    ]);
    expect(readDomainSearch(v)).toEqual(["novalocal", "example.org"]);
    // "a.example.org" as label "a" + pointer to offset 11 ("example.org").
    const c = Uint8Array.from([...v, 1, 97, 0xc0, 11]);
    expect(readDomainSearch(c)).toEqual(["novalocal", "example.org", "a.example.org"]);
    expect(readDomainSearch(Uint8Array.of(0xc0, 0))).toBeNull(); // pointer to itself
    expect(readDomainSearch(Uint8Array.of(5, 1))).toBeNull();
  });
  test("address lists", () => {
    expect(readIps(Uint8Array.of(8, 8, 8, 8, 1, 1, 1, 1))).toEqual(["8.8.8.8", "1.1.1.1"]);
    expect(readIps(Uint8Array.of(8, 8, 8))).toBeNull();
  });
});

/** A small deterministic PRNG so a failing fuzz case can be reproduced from its seed. */

function exercise(buf: Uint8Array): void {
  const d = decode(buf);
  if (!d.ok) return;
  // Every reader must cope with whatever value arrived.
  for (const [, v] of d.message.options) {
    readClasslessRoutes(v);
    readDomainSearch(v);
    readIps(v);
    readU16(v);
  }
}

describe("fuzz: decode never throws", () => {
  test("random buffers, random buffers with a valid cookie, mutated real packets (300k cases)", () => {
    const rnd = mulberry32(0x5eed);
    const byte = () => (rnd() * 256) | 0;
    let accepted = 0;
    for (let n = 0; n < 60_000; n++) {
      const b = new Uint8Array((rnd() * 1600) | 0);
      for (let i = 0; i < b.length; i++) b[i] = byte();
      exercise(b); // a throw fails the test
    }
    for (let n = 0; n < 90_000; n++) {
      const b = new Uint8Array(240 + ((rnd() * 400) | 0));
      for (let i = 0; i < b.length; i++) b[i] = byte();
      b.set([99, 130, 83, 99], 236);
      b[2] = b[2] & 15;
      const d = decode(b);
      if (d.ok) accepted++;
      exercise(b);
    }
    for (let n = 0; n < 150_000; n++) {
      const src = realPackets[n % realPackets.length];
      let b = src.slice();
      const edits = 1 + ((rnd() * 6) | 0);
      for (let e = 0; e < edits; e++) {
        const kind = rnd();
        if (kind < 0.6) b[240 + ((rnd() * (b.length - 240)) | 0)] = byte();
        else if (kind < 0.8) b = b.slice(0, (rnd() * b.length) | 0);
        else if (kind < 0.9) b[(rnd() * b.length) | 0] = byte();
        else {
          const grown = new Uint8Array(b.length + ((rnd() * 64) | 0));
          grown.set(b);
          for (let i = b.length; i < grown.length; i++) grown[i] = byte();
          b = grown;
        }
      }
      const d = decode(b);
      if (d.ok) accepted++;
      exercise(b);
    }
    // The mutations must reach the option parser, not only fail the length check.
    expect(accepted).toBeGreaterThan(10_000);
  }, 30_000);
});
