import { describe, expect, test } from "bun:test";
import { Registry } from "../../src/metrics.ts";
import type { Icmp6Port } from "../../src/ra/advertiser.ts";
import { advertFor, checkBridgeConfig, requireSlaacPrefix, type BridgeConfig } from "../../src/ra/config.ts";
import { usableLinkLocal } from "../../src/ra/link.ts";
import { RaService } from "../../src/ra/service.ts";
import { FakeClock } from "../../src/util/clock.ts";

const PROC = (lines: [string, number, number, string][]) =>
  `${lines
    .map(
      ([hex, idx, flags, name]) =>
        `${hex} ${idx.toString(16).padStart(2, "0")} 40 20 ${flags.toString(16).padStart(2, "0")} ${name}`,
    )
    .join("\n")}\n`;
const LL_A = "fe800000000000000000000000000a0a";
const LL_B = "fe800000000000000000000000000b0b";

describe("usableLinkLocal", () => {
  const text =
    "00000000000000000000000000000001 01 80 10 80       lo\n" +
    "fd00a100000000000000000000000001 05 40 00 80     br-a\n" +
    `${LL_A} 05 40 20 80     br-a\n` +
    `${LL_B} 06 40 20 c0     br-b\n`; // tentative
  test("finds the link-local of a bridge with DAD done", () => {
    expect(usableLinkLocal(text, "br-a")).toEqual({ address: "fe80::a0a", ifindex: 5 });
  });
  test("ignores tentative and missing addresses", () => {
    expect(usableLinkLocal(text, "br-b")).toBeNull();
    expect(usableLinkLocal(text, "br-c")).toBeNull();
    expect(usableLinkLocal(`${LL_B} 06 40 20 88     br-b\n`, "br-b")).toBeNull(); // DAD failed
    expect(usableLinkLocal("garbage\n\n", "br-a")).toBeNull();
  });
});

const cfgA: BridgeConfig = {
  bridge: "br-a",
  prefix: "fd00:a1::/64",
  mtu: 1450,
  rdnss: ["fd00:a1::1"],
  dnssl: ["novalocal"],
};

describe("checkBridgeConfig and advertFor", () => {
  test("defaults follow radvd as nova ran it, with RFC 8106 DNS lifetimes", () => {
    expect(checkBridgeConfig(cfgA, 10_000)).toEqual({ valid: 86400, preferred: 14400, router: 30, dns: 30 });
  });
  test("refuses prefixes that cannot do SLAAC and lifetimes outside the RFCs", () => {
    expect(() => requireSlaacPrefix("fd00::/48")).toThrow("needs a /64: current length is 48");
    expect(() => requireSlaacPrefix("10.0.0.0/24")).toThrow(RangeError);
    expect(() => checkBridgeConfig({ ...cfgA, lifetimes: { dns: 20 } }, 10_000)).toThrow(
      "at least 3 × MaxRtrAdvInterval",
    );
    expect(() => checkBridgeConfig({ ...cfgA, lifetimes: { router: 5 } }, 10_000)).toThrow(RangeError);
    expect(() => checkBridgeConfig({ ...cfgA, lifetimes: { preferred: 10, valid: 5 } }, 10_000)).toThrow(RangeError);
    expect(() => checkBridgeConfig({ ...cfgA, mtu: 1000 }, 10_000)).toThrow(RangeError);
    expect(() => checkBridgeConfig({ ...cfgA, rdnss: ["10.0.0.1"] }, 10_000)).toThrow(RangeError);
    expect(() => checkBridgeConfig({ ...cfgA, bridge: "a bridge name too long" }, 10_000)).toThrow(RangeError);
    expect(checkBridgeConfig({ ...cfgA, lifetimes: { router: 0 } }, 10_000).router).toBe(0);
  });
  test("a final RA zeroes the router lifetime, and removal zeroes the rest", () => {
    const lt = checkBridgeConfig(cfgA, 10_000);
    const routes = [{ prefix: "fd00:99::/48", preference: "high" as const, lifetime: 90 }];
    const normal = advertFor({ ...cfgA, routes }, lt, null, false);
    expect(normal).toMatchObject({ routerLifetime: 30, managed: false, other: false, preference: "medium", mtu: 1450 });
    const final = advertFor({ ...cfgA, routes }, lt, null, true);
    expect(final.routerLifetime).toBe(0);
    expect(final.prefixes[0]).toMatchObject({ validLifetime: 86400, preferredLifetime: 14400 });
    const removed = advertFor({ ...cfgA, routes, removed: true }, lt, null, true);
    expect(removed.prefixes[0]).toMatchObject({ validLifetime: 0, preferredLifetime: 0 });
    expect([removed.rdnss!.lifetime, removed.dnssl!.lifetime, removed.routes[0].lifetime]).toEqual([0, 0, 0]);
  });
});

class FakePort implements Icmp6Port {
  sent: { type: number; routerLifetime: number; dst: string; src?: string }[] = [];
  inbox: { data: Uint8Array; source: string; hopLimit: number | null; truncated: boolean }[] = [];
  closed = false;
  constructor(readonly ifindex: number) {}
  send(data: Uint8Array, dst: string, src?: string): number {
    this.sent.push({ type: data[0], routerLifetime: (data[6] << 8) | data[7], dst, src });
    return 0;
  }
  receive() {
    return this.inbox.shift() ?? null;
  }
  close() {
    this.closed = true;
  }
}

function harness(extra: Partial<ConstructorParameters<typeof RaService>[0]> = {}) {
  const clock = new FakeClock(0);
  let proc = "";
  const ports = new Map<string, FakePort>();
  const opened: string[] = [];
  const wakes = new Map<string, () => void>();
  const upPorts = new Set<string>();
  const reg = new Registry();
  const svc = new RaService({
    clock,
    random: () => 0.5,
    registry: reg,
    readIfInet6: () => proc,
    readUpPorts: () => new Set(upPorts),
    openLinkWatch: null,
    ...extra,
    openPort: (name, wake) => {
      opened.push(name);
      wakes.set(name, wake);
      const p = new FakePort(name === "br-a" ? 5 : 6);
      ports.set(name, p);
      return p;
    },
  });
  const advance = (ms: number) => clock.advance(ms);
  return { svc, clock, ports, opened, wakes, upPorts, reg, advance, setProc: (t: string) => (proc = t) };
}

describe("RaService reconciliation", () => {
  test("waits for DAD, then advertises from the link-local address", async () => {
    const h = harness();
    h.setProc(PROC([[LL_A, 5, 0xc0, "br-a"]])); // tentative
    h.svc.setBridges([cfgA]);
    await h.advance(2000);
    expect(h.opened).toEqual([]);
    expect(h.svc.status()).toEqual([{ bridge: "br-a", state: "waiting-link-local", linkLocal: null }]);
    h.setProc(PROC([[LL_A, 5, 0x80, "br-a"]]));
    await h.advance(300); // the address is re-read every 250 ms while a bridge waits
    expect(h.ports.get("br-a")!.sent).toEqual([{ type: 134, routerLifetime: 30, dst: "ff02::1", src: "fe80::a0a" }]);
    await h.svc.stop();
  });

  test("never opens a socket for an interface outside the list, and withdraws dropped bridges", async () => {
    const h = harness();
    h.setProc(
      PROC([
        [LL_A, 5, 0x80, "br-a"],
        [LL_B, 6, 0x80, "br-b"],
      ]),
    );
    h.svc.setBridges([cfgA]);
    await h.advance(30_000);
    expect(h.opened).toEqual(["br-a"]);
    h.svc.setBridges([{ ...cfgA, bridge: "br-b", prefix: "fd00:b2::/64" }]);
    await h.advance(100);
    const a = h.ports.get("br-a")!;
    expect(a.sent.at(-1)!.routerLifetime).toBe(0);
    expect(h.opened).toEqual(["br-a", "br-b"]);
    await h.advance(10_000); // the rest of br-a's final series, then it is closed and forgotten
    expect(a.sent.filter((s) => s.routerLifetime === 0).length).toBe(3);
    expect(a.closed).toBe(true);
    expect(h.svc.status().map((s) => s.bridge)).toEqual(["br-b"]);
    await h.svc.stop();
  });

  test("stop without withdraw (a restart) sends no final RA; the default stop withdraws", async () => {
    for (const withdraw of [false, true]) {
      const h = harness();
      h.setProc(PROC([[LL_A, 5, 0x80, "br-a"]]));
      h.svc.setBridges([cfgA]);
      await h.advance(1000);
      const a = h.ports.get("br-a")!;
      expect(a.sent.map((x) => x.routerLifetime)).toEqual([30]);
      await h.svc.stop(withdraw ? undefined : { withdraw: false });
      expect(a.sent.map((x) => x.routerLifetime)).toEqual(withdraw ? [30, 0] : [30]);
      expect(a.closed).toBe(true);
    }
  });

  test("invalid lists change nothing", async () => {
    const h = harness();
    h.setProc(PROC([[LL_A, 5, 0x80, "br-a"]]));
    h.svc.setBridges([cfgA]);
    expect(() => h.svc.setBridges([cfgA, { ...cfgA, bridge: "br-b", prefix: "fd00:b2::/48" }])).toThrow("needs a /64");
    expect(() => h.svc.setBridges([cfgA, cfgA])).toThrow("more than once");
    expect(h.svc.status().map((s) => s.state)).toEqual(["advertising"]);
    await h.svc.stop();
  });

  test("answers a valid RS by unicast, counts and drops a bad one", async () => {
    const h = harness();
    h.setProc(PROC([[LL_A, 5, 0x80, "br-a"]]));
    h.svc.setBridges([cfgA]);
    await h.advance(1000);
    const p = h.ports.get("br-a")!;
    p.inbox.push({
      data: Uint8Array.from([133, 0, 0, 0, 0, 0, 0, 0]),
      source: "fe80::99",
      hopLimit: 255,
      truncated: false,
    });
    p.inbox.push({
      data: Uint8Array.from([133, 0, 0, 0, 0, 0, 0, 0]),
      source: "fe80::98",
      hopLimit: 64,
      truncated: false,
    });
    p.inbox.push({ data: new Uint8Array(2048), source: "fe80::97", hopLimit: 255, truncated: true });
    await h.advance(600);
    expect(p.sent.filter((s) => s.dst === "fe80::99").length).toBe(1);
    expect(p.sent.some((s) => s.dst === "fe80::98" || s.dst === "fe80::97")).toBe(false);
    expect(h.reg.render()).toContain('netlet_ra_dropped_total{bridge="br-a",reason="hop-limit"} 1');
    expect(h.reg.render()).toContain('netlet_ra_dropped_total{bridge="br-a",reason="oversized"} 1');
    expect(h.reg.render()).toContain('netlet_ra_solicitations_total{bridge="br-a"} 1');
    await h.svc.stop();
  });

  test("a doorbell wake-up answers at once, without waiting for the poll", async () => {
    const h = harness({ maxSolicitedDelayMs: 0 });
    h.setProc(PROC([[LL_A, 5, 0x80, "br-a"]]));
    h.svc.setBridges([cfgA]);
    await h.advance(200);
    const p = h.ports.get("br-a")!;
    p.inbox.push({
      data: Uint8Array.from([133, 0, 0, 0, 0, 0, 0, 0]),
      source: "fe80::77",
      hopLimit: 255,
      truncated: false,
    });
    h.wakes.get("br-a")!();
    h.wakes.get("br-a")!(); // coalesced into one pass
    // The next poll is 100 ms away; the wake-up's pass runs 5 ms after the last one.
    await h.advance(4);
    expect(p.sent.filter((s) => s.dst === "fe80::77").length).toBe(0);
    await h.advance(1);
    expect(p.sent.filter((s) => s.dst === "fe80::77").length).toBe(1);
    await h.svc.stop();
  });

  test("a bridge port coming up brings the next multicast RA forward", async () => {
    const h = harness({ random: () => 0.99 }); // unsolicited interval 9.93 s
    h.setProc(PROC([[LL_A, 5, 0x80, "br-a"]]));
    h.upPorts.add("vm0");
    h.svc.setBridges([cfgA]);
    await h.advance(4000);
    const p = h.ports.get("br-a")!;
    expect(p.sent.length).toBe(1);
    h.upPorts.add("vm1"); // noticed by the 1 s link check here (netlink would wake at once)
    await h.advance(1000);
    expect(p.sent.length).toBe(2);
    expect(p.sent[1]).toMatchObject({ dst: "ff02::1", routerLifetime: 30 });
    h.upPorts.delete("vm0"); // a port going down is no reason to advertise
    await h.advance(2500);
    expect(p.sent.length).toBe(2);
    await h.svc.stop();
  });

  test("a re-created bridge (new ifindex) gets a new socket", async () => {
    const h = harness();
    h.setProc(PROC([[LL_A, 5, 0x80, "br-a"]]));
    h.svc.setBridges([cfgA]);
    await h.advance(1000);
    h.setProc("");
    await h.advance(1100);
    expect(h.ports.get("br-a")!.closed).toBe(true);
    expect(h.svc.status()[0].state).toBe("waiting-link-local");
    h.setProc(PROC([[LL_A, 5, 0x80, "br-a"]]));
    await h.advance(300);
    expect(h.opened).toEqual(["br-a", "br-a"]);
    expect(h.svc.status()[0].state).toBe("advertising");
    await h.svc.stop();
    expect(h.ports.get("br-a")!.sent.at(-1)!.routerLifetime).toBe(0);
  });

  test("a content change is advertised within MIN_DELAY_BETWEEN_RAS", async () => {
    const h = harness();
    h.setProc(PROC([[LL_A, 5, 0x80, "br-a"]]));
    h.svc.setBridges([cfgA]);
    await h.advance(500);
    const p = h.ports.get("br-a")!;
    const before = p.sent.length;
    h.svc.setBridges([{ ...cfgA, mtu: 1400 }]);
    await h.advance(3000);
    expect(p.sent.length).toBe(before + 1);
    await h.svc.stop();
  });
});
