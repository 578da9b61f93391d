import { describe, expect, test } from "bun:test";
import { mulberry32 } from "../../src/cluster/sim/prng.ts";
import { decode, type DhcpMessage } from "../../src/dhcp/codec.ts";
import type { DhcpHost } from "../../src/dhcp/host.ts";
import { MemoryLeaseStore } from "../../src/dhcp/leases.ts";
import { RateLimiter } from "../../src/dhcp/limits.ts";
import {
  MessageType,
  Opt,
  readClasslessRoutes,
  readDomainSearch,
  readIp,
  readIps,
  readString,
  readU16,
  readU32,
  readU8,
} from "../../src/dhcp/options.ts";
import { leaseTimes } from "../../src/dhcp/reply.ts";
import {
  DECLINE_BACKOFF_MS,
  handle,
  handlePacket,
  type HandleContext,
  type HandleResult,
} from "../../src/dhcp/server.ts";

const MAC = "02:00:00:00:00:10";
const T0 = 1_800_000_000_000;

function host(over: Partial<DhcpHost> = {}): DhcpHost {
  return {
    mac: MAC,
    networkId: "net-1",
    address: "10.77.0.10",
    prefixLength: 24,
    router: "10.77.0.1",
    dnsServers: ["10.77.0.1", "8.8.8.8"],
    hostname: "vm1",
    domain: "novalocal",
    searchDomains: ["novalocal", "example.org"],
    mtu: 1450,
    serverId: "10.77.0.1",
    leaseTime: 86400,
    classlessRoutes: [{ destination: "169.254.169.254/32", gateway: "10.77.0.1" }],
    primary: true,
    ...over,
  };
}

function ctx(hosts: DhcpHost[] = [host()], over: Partial<HandleContext> = {}): HandleContext {
  return {
    now: T0,
    random: () => 0,
    hosts: new Map(hosts.map((h) => [h.mac, h])),
    retired: new Map(),
    leases: new MemoryLeaseStore(),
    serverId: "10.77.0.1",
    ...over,
  };
}

interface Req {
  type: number;
  mac?: string;
  ciaddr?: string;
  giaddr?: string;
  flags?: number;
  opts?: [number, number[]][];
}

function req(r: Req): DhcpMessage {
  const mac = (r.mac ?? MAC).split(":").map((x) => parseInt(x, 16));
  const options = new Map<number, Uint8Array>([[Opt.MessageType, Uint8Array.of(r.type)]]);
  for (const [code, v] of r.opts ?? []) options.set(code, Uint8Array.from(v));
  return {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0x1234,
    secs: 0,
    flags: r.flags ?? 0,
    ciaddr: r.ciaddr ?? "0.0.0.0",
    yiaddr: "0.0.0.0",
    siaddr: "0.0.0.0",
    giaddr: r.giaddr ?? "0.0.0.0",
    chaddr: Uint8Array.from(mac),
    options,
  };
}

const ip = (s: string) => s.split(".").map(Number);

function replyOf(res: HandleResult) {
  if (res.kind !== "reply") throw new Error(`expected a reply, got ${JSON.stringify(res)}`);
  const d = decode(res.reply);
  if (!d.ok) throw new Error(d.error);
  return { res, msg: d.message, opt: (c: number) => d.message.options.get(c) };
}

describe("DISCOVER", () => {
  test("known MAC gets an OFFER with the fixed address and every configured option", () => {
    const { res, msg, opt } = replyOf(handle(req({ type: MessageType.Discover }), ctx()));
    expect(res.type).toBe(MessageType.Offer);
    expect(res.reply.length).toBeGreaterThan(300);
    expect(msg.op).toBe(2);
    expect(msg.xid).toBe(0x1234);
    expect(msg.yiaddr).toBe("10.77.0.10");
    expect(readU8(opt(Opt.MessageType))).toBe(MessageType.Offer);
    expect(readIp(opt(Opt.ServerId))).toBe("10.77.0.1");
    expect(readIp(opt(Opt.SubnetMask))).toBe("255.255.255.0");
    expect(readIp(opt(Opt.Broadcast))).toBe("10.77.0.255");
    expect(readIps(opt(Opt.Router))).toEqual(["10.77.0.1"]);
    expect(readIps(opt(Opt.DnsServers))).toEqual(["10.77.0.1", "8.8.8.8"]);
    expect(readString(opt(Opt.Hostname))).toBe("vm1.novalocal");
    expect(readString(opt(Opt.DomainName))).toBe("novalocal");
    expect(readU16(opt(Opt.InterfaceMtu))).toBe(1450);
    expect(readDomainSearch(opt(Opt.DomainSearch))).toEqual(["novalocal", "example.org"]);
    expect(readClasslessRoutes(opt(Opt.ClasslessRoutes))).toEqual([
      { destination: "169.254.169.254/32", gateway: "10.77.0.1" },
      { destination: "0.0.0.0/0", gateway: "10.77.0.1" },
    ]);
    expect(readU32(opt(Opt.LeaseTime))).toBe(86400);
    expect(readU32(opt(Opt.RenewalTime))).toBe(43200);
    expect(readU32(opt(Opt.RebindingTime))).toBe(75600);
    expect(res.destination).toEqual({ kind: "unicast-hw", address: "10.77.0.10", mac: MAC, port: 68 });
    expect(res.leaseOps).toEqual([]);
  });

  test("option 55 limits the configurable options and orders them", () => {
    const { msg, res } = replyOf(
      handle(req({ type: MessageType.Discover, opts: [[Opt.ParameterList, [6, 3, 1]]] }), ctx()),
    );
    expect(res.reply.length).toBe(300); // padded to the BOOTP minimum
    const codes = [...msg.options.keys()];
    expect(codes).toEqual([53, 54, 51, 58, 59, 1, 28, 6, 3]);
  });

  test("unknown MAC: silence", () => {
    expect(handle(req({ type: MessageType.Discover, mac: "02:00:00:00:00:99" }), ctx())).toEqual({
      kind: "drop",
      reason: "unknown_mac",
    });
  });

  test("broadcast flag: broadcast reply", () => {
    const { res, msg } = replyOf(handle(req({ type: MessageType.Discover, flags: 0x8000 }), ctx()));
    expect(res.destination).toEqual({ kind: "broadcast", port: 68 });
    expect(msg.flags).toBe(0x8000);
  });

  test("echoes option 61; relayed: reply to giaddr:67 with option 82 last", () => {
    const { res, msg, opt } = replyOf(
      handle(
        req({
          type: MessageType.Discover,
          giaddr: "10.77.0.254",
          opts: [
            [Opt.ClientId, [1, 2, 3]],
            [Opt.RelayAgentInfo, [1, 2, 0x61, 0x62]],
          ],
        }),
        ctx(),
      ),
    );
    expect(res.destination).toEqual({ kind: "relay", address: "10.77.0.254", port: 67 });
    expect(msg.giaddr).toBe("10.77.0.254");
    expect([...opt(Opt.ClientId)!]).toEqual([1, 2, 3]);
    expect([...opt(Opt.RelayAgentInfo)!]).toEqual([1, 2, 0x61, 0x62]);
    expect([...msg.options.keys()].at(-1)).toBe(Opt.RelayAgentInfo);
  });

  test("use_single_default_gateway: a NIC given no router gets neither option 3 nor a default route", () => {
    const { opt } = replyOf(handle(req({ type: MessageType.Discover }), ctx([host({ primary: false, router: null })])));
    expect(opt(Opt.Router)).toBeUndefined();
    expect(readClasslessRoutes(opt(Opt.ClasslessRoutes))).toEqual([
      { destination: "169.254.169.254/32", gateway: "10.77.0.1" },
    ]);
  });

  test("no router, no extra routes, no MTU: options 3, 121 and 26 are absent", () => {
    const { opt } = replyOf(
      handle(req({ type: MessageType.Discover }), ctx([host({ router: null, classlessRoutes: [], mtu: null })])),
    );
    expect(opt(Opt.Router)).toBeUndefined();
    expect(opt(Opt.ClasslessRoutes)).toBeUndefined();
    expect(opt(Opt.InterfaceMtu)).toBeUndefined();
  });

  test("a reply never exceeds the client's room (576 bytes less IP/UDP without option 57)", () => {
    const many = Array.from({ length: 40 }, (_, i) => `d${i}.example.org`);
    const res = handle(req({ type: MessageType.Discover }), ctx([host({ searchDomains: many })]));
    const { opt } = replyOf(res);
    expect(res.kind === "reply" && res.reply.length).toBeLessThanOrEqual(548);
    expect(opt(Opt.DomainSearch)).toBeUndefined();
    expect(res.kind === "reply" && res.omitted).toEqual([Opt.DomainSearch]);
    expect(readString(opt(Opt.Hostname))).toBe("vm1.novalocal");
    const big = handle(
      req({ type: MessageType.Discover, opts: [[Opt.MaxMessageSize, [5, 192]]] }),
      ctx([host({ searchDomains: many })]),
    );
    expect(readDomainSearch(replyOf(big).opt(Opt.DomainSearch))).toHaveLength(40);
  });

  test("long hostnames are shortened as nova did (2 + '-' + last 60)", () => {
    const name = "a".repeat(10) + "b".repeat(60);
    const { opt } = replyOf(handle(req({ type: MessageType.Discover }), ctx([host({ hostname: name })])));
    expect(readString(opt(Opt.Hostname))).toBe(`aa-${"b".repeat(60)}.novalocal`);
  });
});

describe("REQUEST", () => {
  const selecting = (addr: string, sid = "10.77.0.1") =>
    req({
      type: MessageType.Request,
      opts: [
        [Opt.ServerId, ip(sid)],
        [Opt.RequestedAddress, ip(addr)],
      ],
    });

  test("SELECTING for us with the offered address: ACK, lease written, lease.added then lease.renewed", () => {
    const c = ctx();
    const { res, msg } = replyOf(handle(selecting("10.77.0.10"), c));
    expect(res.type).toBe(MessageType.Ack);
    expect(msg.yiaddr).toBe("10.77.0.10");
    expect(res.leaseOps).toEqual([
      {
        op: "put",
        lease: {
          networkId: "net-1",
          mac: MAC,
          address: "10.77.0.10",
          hostname: "vm1",
          clientId: null,
          state: "leased",
          expiresAt: T0 + 86400_000,
          updatedAt: T0,
        },
      },
    ]);
    expect(res.events.map((e) => e.type)).toEqual(["lease.added"]);
    c.leases.apply(res.leaseOps);
    const again = handle(req({ type: MessageType.Request, ciaddr: "10.77.0.10" }), { ...c, now: T0 + 43200_000 });
    expect(again.kind === "reply" && again.events.map((e) => e.type)).toEqual(["lease.renewed"]);
  });

  test("SELECTING another server: silence", () => {
    expect(handle(selecting("10.77.0.10", "10.77.0.2"), ctx())).toEqual({ kind: "drop", reason: "other_server" });
  });

  test("SELECTING with a different address: NAK, broadcast, only 53/54/56", () => {
    const { res, msg } = replyOf(handle(selecting("10.77.0.11"), ctx()));
    expect(res.type).toBe(MessageType.Nak);
    expect(res.destination).toEqual({ kind: "broadcast", port: 68 });
    expect(msg.yiaddr).toBe("0.0.0.0");
    expect([...msg.options.keys()]).toEqual([53, 54, 56]);
    expect(res.leaseOps).toEqual([]);
  });

  test("INIT-REBOOT: right address ACK, wrong address NAK, unknown client silence", () => {
    const reboot = (addr: string, mac?: string) =>
      req({ type: MessageType.Request, mac, opts: [[Opt.RequestedAddress, ip(addr)]] });
    expect(replyOf(handle(reboot("10.77.0.10"), ctx())).res.type).toBe(MessageType.Ack);
    expect(replyOf(handle(reboot("10.77.0.99"), ctx())).res.type).toBe(MessageType.Nak);
    expect(handle(reboot("10.77.0.10", "02:00:00:00:00:99"), ctx())).toEqual({ kind: "drop", reason: "unknown_mac" });
  });

  test("RENEWING/REBINDING: ACK to ciaddr when it matches (even with no lease record), else NAK", () => {
    const { res } = replyOf(handle(req({ type: MessageType.Request, ciaddr: "10.77.0.10" }), ctx()));
    expect(res.type).toBe(MessageType.Ack);
    expect(res.destination).toEqual({ kind: "unicast", address: "10.77.0.10", port: 68 });
    expect(res.events.map((e) => e.type)).toEqual(["lease.added"]);
    expect(replyOf(handle(req({ type: MessageType.Request, ciaddr: "10.77.0.12" }), ctx())).res.type).toBe(
      MessageType.Nak,
    );
  });

  test("a host this node removed from its table: NAK until its lease would have expired; other unknown MACs: silence", () => {
    const renew = req({ type: MessageType.Request, ciaddr: "10.77.0.10" });
    expect(handle(renew, ctx([]))).toEqual({ kind: "drop", reason: "unknown_mac" });
    const retired = new Map([[MAC, { networkId: "net-1", address: "10.77.0.10", until: T0 + 1000 }]]);
    const c = ctx([], { retired });
    const { res, opt } = replyOf(handle(renew, c));
    expect(res.type).toBe(MessageType.Nak);
    expect(readIp(opt(Opt.ServerId))).toBe("10.77.0.1");
    // Another address, or after the lease would have run out: not ours to refuse.
    expect(handle(req({ type: MessageType.Request, ciaddr: "10.77.0.11" }), c).kind).toBe("drop");
    expect(handle(renew, { ...c, now: T0 + 1000 }).kind).toBe("drop");
    // A lease row alone (e.g. replicated from another node) is not enough.
    const withRow = ctx([]);
    withRow.leases.put({
      networkId: "net-1",
      mac: MAC,
      address: "10.77.0.10",
      hostname: null,
      clientId: null,
      state: "leased",
      expiresAt: T0 + 9e6,
      updatedAt: T0,
    });
    expect(handle(renew, withRow).kind).toBe("drop");
  });

  test("a REQUEST with none of server-id, requested address or ciaddr is dropped", () => {
    expect(handle(req({ type: MessageType.Request }), ctx())).toEqual({ kind: "drop", reason: "bad_request" });
  });

  test("a relayed NAK sets the broadcast flag", () => {
    const r = req({
      type: MessageType.Request,
      giaddr: "10.77.0.254",
      opts: [[Opt.RequestedAddress, ip("10.77.0.99")]],
    });
    const { res, msg } = replyOf(handle(r, ctx()));
    expect(res.destination).toEqual({ kind: "relay", address: "10.77.0.254", port: 67 });
    expect(msg.flags & 0x8000).toBe(0x8000);
  });

  test("option 61 is kept in the lease as hex", () => {
    const r = req({ type: MessageType.Request, ciaddr: "10.77.0.10", opts: [[Opt.ClientId, [0xff, 1, 2]]] });
    const res = handle(r, ctx());
    expect(res.kind === "reply" && res.leaseOps[0].op === "put" && res.leaseOps[0].lease.clientId).toBe("ff0102");
  });
});

describe("DECLINE, RELEASE, INFORM", () => {
  test("DECLINE marks the lease declined, raises an event, and DISCOVER backs off", () => {
    const c = ctx();
    const res = handle(
      req({
        type: MessageType.Decline,
        opts: [
          [Opt.ServerId, ip("10.77.0.1")],
          [Opt.RequestedAddress, ip("10.77.0.10")],
        ],
      }),
      c,
    );
    expect(res.kind).toBe("silent");
    if (res.kind !== "silent") return;
    expect(res.events.map((e) => e.type)).toEqual(["lease.declined"]);
    c.leases.apply(res.leaseOps);
    expect(c.leases.get("net-1", MAC)?.state).toBe("declined");
    expect(handle(req({ type: MessageType.Discover }), { ...c, now: T0 + 1000 })).toEqual({
      kind: "drop",
      reason: "declined_backoff",
    });
    expect(replyOf(handle(req({ type: MessageType.Discover }), { ...c, now: T0 + DECLINE_BACKOFF_MS })).res.type).toBe(
      MessageType.Offer,
    );
  });

  test("DECLINE of another address or from an unknown MAC is dropped", () => {
    expect(
      handle(req({ type: MessageType.Decline, opts: [[Opt.RequestedAddress, ip("10.77.0.11")]] }), ctx()).kind,
    ).toBe("drop");
    expect(
      handle(
        req({ type: MessageType.Decline, mac: "02:00:00:00:00:99", opts: [[Opt.RequestedAddress, ip("10.77.0.10")]] }),
        ctx(),
      ).kind,
    ).toBe("drop");
  });

  test("RELEASE frees the lease with an event; wrong server or unknown MAC is ignored", () => {
    const c = ctx();
    const res = handle(
      req({ type: MessageType.Release, ciaddr: "10.77.0.10", opts: [[Opt.ServerId, ip("10.77.0.1")]] }),
      c,
    );
    expect(res.kind === "silent" && res.events.map((e) => e.type)).toEqual(["lease.released"]);
    expect(res.kind === "silent" && res.leaseOps[0].op === "put" && res.leaseOps[0].lease.state).toBe("released");
    expect(
      handle(req({ type: MessageType.Release, ciaddr: "10.77.0.10", opts: [[Opt.ServerId, ip("10.77.0.2")]] }), c).kind,
    ).toBe("drop");
    expect(handle(req({ type: MessageType.Release, mac: "02:00:00:00:00:99", ciaddr: "10.77.0.10" }), c).kind).toBe(
      "drop",
    );
  });

  test("INFORM: ACK to ciaddr with ciaddr set, no yiaddr and no lease times", () => {
    const { res, msg } = replyOf(handle(req({ type: MessageType.Inform, ciaddr: "10.77.0.10" }), ctx()));
    expect(res.type).toBe(MessageType.Ack);
    expect(res.destination).toEqual({ kind: "unicast", address: "10.77.0.10", port: 68 });
    expect(msg.ciaddr).toBe("10.77.0.10");
    expect(msg.yiaddr).toBe("0.0.0.0");
    expect(msg.options.has(Opt.LeaseTime)).toBe(false);
    expect(msg.options.has(Opt.RenewalTime)).toBe(false);
    expect(msg.options.has(Opt.SubnetMask)).toBe(true);
    expect(res.leaseOps).toEqual([]);
  });
});

describe("malformed and foreign packets", () => {
  test("replies, non-Ethernet, BOOTP and server-side message types are dropped with a reason", () => {
    expect(handle({ ...req({ type: 1 }), op: 2 }, ctx())).toEqual({ kind: "drop", reason: "not_request" });
    expect(handle({ ...req({ type: 1 }), htype: 6 }, ctx())).toEqual({ kind: "drop", reason: "bad_htype" });
    const bootp = req({ type: 1 });
    bootp.options.delete(Opt.MessageType);
    expect(handle(bootp, ctx())).toEqual({ kind: "drop", reason: "not_dhcp" });
    expect(handle(req({ type: MessageType.Offer }), ctx())).toEqual({ kind: "drop", reason: "bad_message_type" });
    expect(handlePacket(new Uint8Array(10), ctx())).toEqual({ kind: "drop", reason: "truncated" });
  });
});

describe("lease times", () => {
  test("T1/T2 are ½ and ⅞ of the lease less a small jitter; the lease is at least 2 minutes", () => {
    expect(leaseTimes(86400, () => 0)).toEqual({ lease: 86400, t1: 43200, t2: 75600 });
    const j = leaseTimes(86400, () => 0.999);
    expect(j.t1).toBe(43200 - 299);
    expect(j.t2).toBe(75600 - 299);
    expect(leaseTimes(10, () => 0).lease).toBe(120);
  });
});

describe("rate limits", () => {
  test("per-MAC bucket: burst, then refill at the rate", () => {
    const rl = new RateLimiter({ globalRate: 1000, globalBurst: 1000, macRate: 2, macBurst: 3, maxMacs: 10 }, T0);
    expect([1, 2, 3, 4].map(() => rl.allowMac(MAC, T0))).toEqual([true, true, true, false]);
    expect(rl.allowMac("02:00:00:00:00:11", T0)).toBe(true);
    expect(rl.allowMac(MAC, T0 + 499)).toBe(false);
    expect(rl.allowMac(MAC, T0 + 1000)).toBe(true);
  });
  test("global bucket", () => {
    const rl = new RateLimiter({ globalRate: 10, globalBurst: 5, macRate: 1, macBurst: 1, maxMacs: 10 }, T0);
    expect(Array.from({ length: 6 }, () => rl.allowGlobal(T0)).filter(Boolean)).toHaveLength(5);
    expect(rl.allowGlobal(T0 + 100)).toBe(true);
    expect(rl.allowGlobal(T0 + 100)).toBe(false);
  });
  test("the MAC table stays bounded", () => {
    const rl = new RateLimiter({ globalRate: 1, globalBurst: 1, macRate: 1, macBurst: 1, maxMacs: 100 }, T0);
    for (let i = 0; i < 1000; i++) rl.allowMac(`m${i}`, T0);
    expect(rl.trackedMacs).toBe(100);
  });
});

describe("fuzz: the core never throws", () => {
  test("50k mutated real client packets through handlePacket with the client's MAC known", async () => {
    const { realPackets } = await import("./fixtures/real-packets.ts");
    const c = ctx([host({ mac: "02:00:00:00:00:42" })]);
    const rnd = mulberry32(0x9e3779b9);
    const kinds = new Map<string, number>();
    for (let n = 0; n < 50_000; n++) {
      const b = realPackets[n % realPackets.length].slice();
      // Vary the message type and the fields the state machine reads, then corrupt options.
      b[242] = 1 + ((rnd() * 8) | 0);
      if (rnd() < 0.5) b.set([(rnd() * 256) | 0, 0, 0, (rnd() * 256) | 0], 12);
      for (let e = (rnd() * 4) | 0; e > 0; e--) b[243 + ((rnd() * (b.length - 243)) | 0)] = (rnd() * 256) | 0;
      const r = handlePacket(b, c); // a throw fails the test
      const k = r.kind === "drop" ? r.reason : r.kind;
      kinds.set(k, (kinds.get(k) ?? 0) + 1);
      if (r.kind !== "drop") c.leases.apply(r.leaseOps);
    }
    expect(kinds.get("reply") ?? 0).toBeGreaterThan(1000);
  }, 30_000);
});
