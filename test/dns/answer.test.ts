/**
 * The sans-IO core and its helpers: zone answers, the cache's TTL rules, truncation, and a fuzz
 * of the decoder path (decode → decide → encode) with mutated real queries.
 */
import { describe, expect, test } from "bun:test";
import * as dnsPacket from "dns-packet";
import type { Answer, DecodedPacket } from "dns-packet";
import { decide, type Reply } from "../../src/dns/answer.ts";
import { cacheTtl, DnsCache } from "../../src/dns/cache.ts";
import { decodeMessage, encodeReply, errorReply, udpLimit } from "../../src/dns/message.ts";
import { SourceLimiter } from "../../src/dns/rate-limit.ts";
import { addressOfReverse, buildZone, reverseName } from "../../src/dns/zone.ts";
import { resolvConfServers } from "../../src/reconcile/dns.ts";
import { Admission } from "../../src/dns/admission.ts";
import { parseQueryInput } from "../../src/dns/diagnose.ts";
import { ReplyMemo, ttlOffsets } from "../../src/dns/memo.ts";
// A seeded PRNG, so a failing fuzz case can be reproduced from its seed.
import { mulberry32 } from "../../src/cluster/sim/prng.ts";

const zone = buildZone(
  "novalocal",
  [
    { hostname: "web-1", project: "demo", v4: ["10.20.0.5"], v6: ["fd00:20::5"], floating: ["203.0.113.7"] },
    { hostname: "db", project: "demo", v4: ["10.20.0.6", "10.30.0.6"], v6: [], floating: [] },
    { hostname: "Not_A_Name", project: "demo", v4: ["10.20.0.9"], v6: [], floating: [] },
    { hostname: "secret", project: "other", v4: ["10.20.0.10"], v6: [], floating: [] },
    { hostname: "db", project: "other", v4: ["10.20.0.11"], v6: [], floating: [] },
  ],
  ["10.20.0.0/24", "fd00:20::/64"],
  42,
);
const self = { v4: "10.20.0.2", v6: null, project: "demo" };

function query(name: string, type: string, extra: Partial<dnsPacket.Packet> = {}): DecodedPacket {
  const bytes = dnsPacket.encode({
    type: "query",
    id: 7,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as "A" }],
    ...extra,
  });
  const d = decodeMessage(bytes);
  if (!d.ok) throw new Error(d.error);
  return d.packet;
}

function replyOf(name: string, type: string): Reply {
  const d = decide(query(name, type), zone, self);
  if (d.kind !== "reply") throw new Error(`expected a reply, got ${d.kind}`);
  return d.reply;
}

const data = (r: Reply) => r.answers.map((a) => (a as { data: unknown }).data);

describe("zone answers", () => {
  test("A and AAAA by hostname.domain, any case, and by bare hostname", () => {
    expect(data(replyOf("web-1.novalocal", "A"))).toEqual(["10.20.0.5"]);
    expect(data(replyOf("WEB-1.NovaLocal.", "AAAA"))).toEqual(["fd00:20::5"]);
    expect(data(replyOf("db", "A"))).toEqual(["10.20.0.6", "10.30.0.6"]);
    expect(replyOf("web-1.novalocal", "A").aa).toBe(true);
  });

  test("a project's guests see its own instances only; a shared network's guests see every project's", () => {
    expect(replyOf("secret.novalocal", "A").rcode).toBe("NXDOMAIN");
    expect(replyOf("10.0.20.10.in-addr.arpa", "PTR").rcode).toBe("NXDOMAIN");
    expect(decide(query("secret", "A"), zone, self)).toMatchObject({ reply: { rcode: "NXDOMAIN" } });
    const shared = { ...self, project: null };
    const all = (name: string, type: string) => {
      const d = decide(query(name, type), zone, shared);
      return d.kind === "reply" ? data(d.reply) : d.kind;
    };
    expect(all("secret.novalocal", "A")).toEqual(["10.20.0.10"]);
    expect(all("10.0.20.10.in-addr.arpa", "PTR")).toEqual(["secret.novalocal"]);
    expect(all("db.novalocal", "A")).toEqual(["10.20.0.6", "10.30.0.6", "10.20.0.11"]);
  });

  test("a name that is not a DNS label is left out rather than answered wrongly", () => {
    expect(replyOf("not_a_name.novalocal", "A").rcode).toBe("NXDOMAIN");
  });

  test("PTR for fixed IPv4, IPv6 and floating addresses; NXDOMAIN for an unused address of a served network", () => {
    expect(data(replyOf("5.0.20.10.in-addr.arpa", "PTR"))).toEqual(["web-1.novalocal"]);
    expect(data(replyOf(reverseName("fd00:20::5"), "PTR"))).toEqual(["web-1.novalocal"]);
    expect(data(replyOf("7.113.0.203.in-addr.arpa", "PTR"))).toEqual(["web-1.novalocal"]);
    const miss = replyOf("77.0.20.10.in-addr.arpa", "PTR");
    expect(miss.rcode).toBe("NXDOMAIN");
    expect(miss.authorities[0].type).toBe("SOA");
    expect(decide(query("8.8.8.8.in-addr.arpa", "PTR"), zone, self).kind).toBe("forward");
  });

  test("SOA and NS at the apex, NXDOMAIN with the SOA (serial, negative TTL) for unknown names, NODATA for other types", () => {
    const s = replyOf("novalocal", "SOA");
    expect((s.answers[0] as { data: { serial: number; minimum: number } }).data.serial).toBe(42);
    expect(data(replyOf("novalocal", "NS"))).toEqual(["ns.novalocal"]);
    expect(data(replyOf("ns.novalocal", "A"))).toEqual(["10.20.0.2"]);
    const nx = replyOf("nobody.novalocal", "A");
    expect([nx.rcode, nx.answers.length, nx.authorities[0].type]).toEqual(["NXDOMAIN", 0, "SOA"]);
    const nodata = replyOf("db.novalocal", "MX");
    expect([nodata.rcode, nodata.answers.length, nodata.authorities[0].type]).toEqual(["NOERROR", 0, "SOA"]);
  });

  test("bare unknown names are not leaked upstream; outside names are forwarded; ANY gets RFC 8482's minimal answer", () => {
    expect(replyOf("wpad", "A").rcode).toBe("NXDOMAIN");
    expect(decide(query("example.org", "A"), zone, self)).toEqual({
      kind: "forward",
      question: { name: "example.org", type: "A", class: "IN" },
    });
    const any = replyOf("example.org", "ANY");
    expect(any.answers.map((a) => a.type)).toEqual(["HINFO"]);
  });

  test("refusals: zone transfers, other classes, other opcodes, responses are dropped", () => {
    expect(replyOf("novalocal", "AXFR").rcode).toBe("REFUSED");
    expect(
      decide(
        query("version.bind", "TXT", { questions: [{ name: "version.bind", type: "TXT", class: "CH" }] }),
        zone,
        self,
      ),
    ).toMatchObject({ kind: "reply", reply: { rcode: "REFUSED" } });
    const resp = decodeMessage(dnsPacket.encode({ type: "response", id: 1, questions: [{ name: "a", type: "A" }] }));
    expect(resp.ok && decide(resp.packet, zone, self).kind).toBe("drop");
  });

  test("reverse names parse only when complete and well formed", () => {
    expect(addressOfReverse("5.0.20.10.in-addr.arpa")?.toString()).toBe("10.20.0.5");
    expect(addressOfReverse("0.20.10.in-addr.arpa")).toBeNull();
    expect(addressOfReverse("500.0.20.10.in-addr.arpa")).toBeNull();
    expect(addressOfReverse(reverseName("fd00::1"))?.toString()).toBe("fd00::1");
  });
});

describe("encoding", () => {
  const big: Reply = {
    rcode: "NOERROR",
    aa: true,
    authorities: [],
    answers: Array.from(
      { length: 30 },
      (_, i) => ({ name: "many.novalocal", type: "A", class: "IN", ttl: 5, data: `10.0.0.${i}` }) as Answer,
    ),
  };

  test("a reply larger than 512 bytes is truncated (TC, no records) for a plain query and fits with EDNS0", () => {
    const q = query("many.novalocal", "A");
    expect(udpLimit(q)).toBe(512);
    const small = dnsPacket.decode(Buffer.from(encodeReply(q, big, udpLimit(q))));
    expect([small.flag_tc, small.answers?.length, small.id]).toEqual([true, 0, 7]);
    const e = query("many.novalocal", "A", {
      additionals: [{ type: "OPT", name: ".", udpPayloadSize: 4096 } as Answer],
    });
    expect(udpLimit(e)).toBe(1232);
    const full = dnsPacket.decode(Buffer.from(encodeReply(e, big, udpLimit(e))));
    expect([full.flag_tc, full.answers?.length]).toEqual([false, 30]);
    expect(full.additionals?.[0].type).toBe("OPT");
  });

  test("an undecodable query with a readable header gets FORMERR with its ID; a response gets nothing", () => {
    const bytes = Uint8Array.of(0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xff);
    const r = errorReply(bytes, 1)!;
    expect([r[0], r[1], r[2] & 0x80, r[3] & 0xf]).toEqual([0x12, 0x34, 0x80, 1]);
    expect(errorReply(Uint8Array.of(0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0), 1)).toBeNull();
  });
});

describe("cache", () => {
  const a = (ttl: number): Reply => ({
    rcode: "NOERROR",
    aa: false,
    authorities: [],
    answers: [{ name: "x.org", type: "A", class: "IN", ttl, data: "192.0.2.1" }],
  });
  const soa = (ttl: number, minimum: number) =>
    ({
      name: "org",
      type: "SOA",
      class: "IN",
      ttl,
      data: { mname: "a", rname: "b", serial: 1, refresh: 1, retry: 1, expire: 1, minimum },
    }) as Answer;

  test("TTLs count down and the entry expires with its smallest TTL", () => {
    const c = new DnsCache({ maxEntries: 10, maxTtl: 86400 });
    c.put("k", a(60), 1_000_000);
    expect((c.get("k", 1_010_500)!.answers[0] as { ttl: number }).ttl).toBe(50);
    expect(c.get("k", 1_060_000)).toBeNull();
  });

  test("negative answers live min(SOA TTL, SOA minimum) (RFC 2308); SERVFAIL and negatives without SOA are not kept", () => {
    expect(cacheTtl({ rcode: "NXDOMAIN", aa: false, answers: [], authorities: [soa(900, 30)] }, 86400)).toBe(30);
    expect(cacheTtl({ rcode: "NOERROR", aa: false, answers: [], authorities: [soa(20, 300)] }, 86400)).toBe(20);
    expect(cacheTtl({ rcode: "NXDOMAIN", aa: false, answers: [], authorities: [] }, 86400)).toBe(0);
    expect(cacheTtl({ rcode: "SERVFAIL", aa: false, answers: [], authorities: [] }, 86400)).toBe(0);
    expect(cacheTtl(a(999_999), 3600)).toBe(3600);
  });

  test("bounded: the least recently used entry goes first", () => {
    const c = new DnsCache({ maxEntries: 2, maxTtl: 86400 });
    c.put("a", a(60), 0);
    c.put("b", a(60), 0);
    c.get("a", 1);
    c.put("c", a(60), 2);
    expect([c.get("a", 3) !== null, c.get("b", 3) !== null, c.get("c", 3) !== null, c.size]).toEqual([
      true,
      false,
      true,
      2,
    ]);
  });
});

describe("rate limit and resolv.conf", () => {
  test("a source gets its burst, then its rate; others are unaffected", () => {
    const l = new SourceLimiter({ perSecond: 10, burst: 20, maxSources: 2 });
    let ok = 0;
    for (let i = 0; i < 50; i++) if (l.allow("10.0.0.5", 0)) ok++;
    expect(ok).toBe(20);
    expect(l.allow("10.0.0.6", 0)).toBe(true);
    expect(l.allow("10.0.0.5", 100)).toBe(true);
    expect(l.allow("10.0.0.5", 100)).toBe(false);
    for (let i = 0; i < 100; i++) l.allow(`10.1.0.${i}`, 200);
  });

  test("nameserver lines", () => {
    expect(resolvConfServers("# x\nnameserver 192.0.2.53\nsearch a\n nameserver fd00::53\n")).toEqual([
      "192.0.2.53",
      "fd00::53",
    ]);
  });
});

describe("fuzz: the decoder path never throws", () => {
  test("120k mutated real queries through replay lookup → decode → decide → encode → replay store", () => {
    const seeds = [
      dnsPacket.encode({
        type: "query",
        id: 1,
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [{ name: "web-1.novalocal", type: "A" }],
      }),
      dnsPacket.encode({
        type: "query",
        id: 2,
        questions: [{ name: "5.0.20.10.in-addr.arpa", type: "PTR" }],
        additionals: [{ type: "OPT", name: ".", udpPayloadSize: 1232 } as Answer],
      }),
      dnsPacket.encode({ type: "query", id: 3, questions: [{ name: "example.org", type: "AAAA" }] }),
      dnsPacket.encode({
        type: "response",
        id: 4,
        questions: [{ name: "x.org", type: "A" }],
        answers: [
          { name: "x.org", type: "A", ttl: 5, data: "192.0.2.1" },
          { name: "x.org", type: "TXT", ttl: 5, data: "hello" },
        ],
      }),
    ];
    const rnd = mulberry32(0xd15);
    const byte = () => (rnd() * 256) | 0;
    let decoded = 0,
      replies = 0;
    const memo = new ReplyMemo(100);
    for (let n = 0; n < 120_000; n++) {
      let b = Uint8Array.from(seeds[n % seeds.length]);
      const edits = 1 + ((rnd() * 4) | 0);
      for (let e = 0; e < edits; e++) {
        const k = rnd();
        if (k < 0.7) b[(rnd() * b.length) | 0] = byte();
        else if (k < 0.85) b = b.slice(0, (rnd() * b.length) | 0);
        else {
          const g = new Uint8Array(b.length + ((rnd() * 32) | 0));
          g.set(b);
          for (let i = b.length; i < g.length; i++) g[i] = byte();
          b = g;
        }
      }
      // The replay path sees every datagram first: it must cope with any bytes too.
      memo.get(memo.key(b, false), b, n);
      ttlOffsets(b);
      const d = decodeMessage(b);
      if (!d.ok) {
        errorReply(b, 1);
        continue;
      }
      decoded++;
      const r = decide(d.packet, zone, self);
      if (r.kind === "reply") {
        const out = encodeReply(d.packet, r.reply, udpLimit(d.packet));
        memo.put(
          memo.key(b, false),
          b,
          out,
          { type: "A", rcode: r.reply.rcode, source: "zone", count: { inc() {} } },
          n,
          n % 2 ? Infinity : 5000,
        );
        replies++;
      }
    }
    // The mutations must reach the core, not only fail decoding.
    expect(decoded).toBeGreaterThan(30_000);
    expect(replies).toBeGreaterThan(5_000);
  }, 60_000);
});

describe("admission and replayed replies", () => {
  test("own network served, another served network refused, anyone else dropped", () => {
    const a = new Admission();
    a.setNetworks(
      new Map([
        ["10.20.0.2", ["10.20.0.0/24", "fd00:20::/64"]],
        ["10.40.0.2", ["10.40.0.0/24"]],
      ]),
    );
    expect([
      a.verdict("10.20.0.2", "10.20.0.9"),
      a.verdict("10.20.0.2", "fd00:20::9"),
      a.verdict("10.20.0.2", "::ffff:10.20.0.9"),
    ]).toEqual(["serve", "serve", "serve"]);
    expect([
      a.verdict("10.20.0.2", "10.40.0.9"),
      a.verdict("10.20.0.2", "192.0.2.1"),
      a.verdict("10.20.0.2", "not-an-address"),
    ]).toEqual(["refuse", "drop", "drop"]);
    a.setNetworks(new Map([["10.20.0.2", ["10.20.0.0/24"]]]));
    expect(a.verdict("10.20.0.2", "10.40.0.9")).toBe("drop");
  });

  test("a replayed reply carries the new ID and TTLs counted down; other bytes, other transport or expiry miss", () => {
    const memo = new ReplyMemo(10);
    const q = dnsPacket.encode({ type: "query", id: 1, questions: [{ name: "x.org", type: "A" }] });
    const reply = dnsPacket.encode({
      type: "response",
      id: 1,
      questions: [{ name: "x.org", type: "A" }],
      answers: [{ name: "x.org", type: "A", ttl: 60, data: "192.0.2.1" }],
      authorities: [{ name: "org", type: "NS", ttl: 100, data: "ns.org" }],
    });
    const labels = { type: "A", rcode: "NOERROR" as const, source: "cache" as const, count: { inc() {} } };
    memo.put(memo.key(q, false), q, reply, labels, 0, 60_000);
    const again = Uint8Array.from(q);
    again[0] = 0xab;
    again[1] = 0xcd;
    const hit = memo.get(memo.key(again, false), again, 10_500)!;
    const d = dnsPacket.decode(Buffer.from(hit.bytes));
    expect([d.id, (d.answers![0] as { ttl: number }).ttl, (d.authorities![0] as { ttl: number }).ttl]).toEqual([
      0xabcd, 50, 90,
    ]);
    expect(memo.get(memo.key(again, true), again, 10_500)).toBeNull();
    const other = dnsPacket.encode({ type: "query", id: 1, questions: [{ name: "y.org", type: "A" }] });
    expect(memo.get(memo.key(other, false), other, 10_500)).toBeNull();
    expect(memo.get(memo.key(again, false), again, 60_000)).toBeNull();
    expect(ttlOffsets(Uint8Array.of(0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5))).toBeNull();
    // The zone's own answers keep their TTL until the zone changes.
    memo.put(memo.key(q, true), q, reply, { ...labels, source: "zone" }, 0, Infinity);
    const zoneHit = dnsPacket.decode(Buffer.from(memo.get(memo.key(q, true), q, 3_600_000)!.bytes));
    expect((zoneHit.answers![0] as { ttl: number }).ttl).toBe(60);
  });
});

describe("netlet dns query input", () => {
  test("names, IP addresses (PTR) and types are checked with one clear error", () => {
    expect(parseQueryInput("vm1.novalocal", undefined)).toEqual({ ok: true, name: "vm1.novalocal", type: "A" });
    expect(parseQueryInput("10.20.0.5", undefined)).toEqual({ ok: true, name: "5.0.20.10.in-addr.arpa", type: "PTR" });
    expect(parseQueryInput("vm1", "aaaa")).toEqual({ ok: true, name: "vm1", type: "AAAA" });
    expect(parseQueryInput("vm1", "AXFR")).toEqual({
      ok: false,
      error: expect.stringContaining("type = AXFR: expected one of A, AAAA"),
    });
    expect(parseQueryInput("bad name", undefined)).toEqual({
      ok: false,
      error: expect.stringContaining("name = bad name: expected a DNS name"),
    });
    expect(parseQueryInput(`${"a".repeat(64)}.org`, undefined).ok).toBe(false);
    expect(parseQueryInput(undefined, undefined).ok).toBe(false);
  });
});
