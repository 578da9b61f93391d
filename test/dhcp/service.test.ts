import { afterEach, describe, expect, test } from "bun:test";
import { decode, encode } from "../../src/dhcp/codec.ts";
import type { BridgeSocket, Receive } from "../../src/dhcp/bridge-socket.ts";
import type { DhcpHost } from "../../src/dhcp/host.ts";
import { MemoryLeaseStore, type LeaseEvent } from "../../src/dhcp/leases.ts";
import { dhcpMetrics } from "../../src/dhcp/metrics.ts";
import { MessageType, Opt } from "../../src/dhcp/options.ts";
import { DhcpService } from "../../src/dhcp/service.ts";
import { Registry } from "../../src/metrics.ts";
import { createLogger } from "../../src/log.ts";
import { FakeClock } from "../../src/util/clock.ts";

const T0 = 1_800_000_000_000;

function host(mac: string, address: string, over: Partial<DhcpHost> = {}): DhcpHost {
  return {
    mac,
    networkId: "net-1",
    address,
    prefixLength: 24,
    router: "10.77.0.1",
    dnsServers: [],
    hostname: "vm",
    domain: null,
    searchDomains: [],
    mtu: null,
    serverId: "10.77.0.1",
    leaseTime: 3600,
    classlessRoutes: [],
    primary: true,
    ...over,
  };
}

interface Sent {
  bridge: string;
  type: number;
  port: number;
  address: string;
}

class FakeNet {
  ifindex = new Map<string, number>([
    ["br0", 10],
    ["br1", 11],
  ]);
  open = new Map<string, { sock: BridgeSocket; receive: Receive }>();
  opened: string[] = [];
  sent: Sent[] = [];
  packets: Uint8Array[] = [];
  arp: string[] = [];

  openSocket = (bridge: string, receive: Receive): BridgeSocket => {
    const net = this;
    const ifindex = this.ifindex.get(bridge) ?? 0;
    this.opened.push(`${bridge}#${ifindex}`);
    const sock: BridgeSocket = {
      bridge,
      ifindex,
      send(bytes, port, address, done) {
        const d = decode(bytes);
        net.packets.push(bytes);
        net.sent.push({ bridge, type: d.ok ? d.message.options.get(Opt.MessageType)![0] : -1, port, address });
        done(null);
      },
      setArp(address, mac) {
        net.arp.push(`${bridge} ${address} ${mac}`);
      },
      close() {
        net.open.delete(bridge);
      },
    };
    this.open.set(bridge, { sock, receive });
    return sock;
  };
}

function packet(type: number, mac: string, opts: { ciaddr?: string; extra?: [number, Uint8Array][] } = {}): Uint8Array {
  return encode({
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 7,
    secs: 0,
    flags: 0,
    ciaddr: opts.ciaddr ?? "0.0.0.0",
    yiaddr: "0.0.0.0",
    siaddr: "0.0.0.0",
    giaddr: "0.0.0.0",
    chaddr: Uint8Array.from(mac.split(":").map((x) => parseInt(x, 16))),
    options: [[Opt.MessageType, Uint8Array.of(type)], ...(opts.extra ?? [])],
  }).bytes;
}

const services: DhcpService[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
});

const quiet = createLogger({ write: () => {} });

function setup(extra: { forceRelease?: boolean } = {}) {
  const net = new FakeNet();
  const reg = new Registry();
  const leases = new MemoryLeaseStore();
  const events: LeaseEvent[] = [];
  const clock = new FakeClock(T0);
  const svc = new DhcpService({
    leases,
    clock,
    random: () => 0,
    onEvent: (e) => events.push(e),
    log: quiet,
    metrics: dhcpMetrics(reg),
    openSocket: net.openSocket,
    ifindexOf: (b) => net.ifindex.get(b) ?? 0,
    ...extra,
  });
  services.push(svc);
  return { net, reg, leases, events, svc, clock };
}

const A = "02:00:00:00:00:0a";
const B = "02:00:00:00:00:0b";

describe("DhcpService", () => {
  test("opens one socket per bridge, answers on the bridge the packet came in on, unicasts after ARP", () => {
    const { net, svc, reg } = setup();
    svc.setBridges([
      { bridge: "br0", hosts: [host(A, "10.77.0.10")] },
      { bridge: "br1", hosts: [host(B, "10.78.0.10", { networkId: "net-2", serverId: "10.78.0.1" })] },
    ]);
    expect(svc.servedBridges.sort()).toEqual(["br0", "br1"]);
    net.open.get("br0")!.receive(packet(MessageType.Discover, A));
    net.open.get("br0")!.receive(packet(MessageType.Discover, B)); // B lives on br1
    expect(net.sent).toEqual([{ bridge: "br0", type: MessageType.Offer, port: 68, address: "10.77.0.10" }]);
    expect(net.arp).toEqual([`br0 10.77.0.10 ${A}`]);
    expect(reg.render()).toContain('netlet_dhcp_dropped_total{reason="unknown_mac"} 1');
    expect(reg.render()).toContain('netlet_dhcp_received_total{type="discover"} 2');
    expect(reg.render()).toContain('netlet_dhcp_sent_total{type="offer"} 1');
  });

  test("malformed packets are counted, never thrown", () => {
    const { net, svc, reg } = setup();
    svc.setBridges([{ bridge: "br0", hosts: [host(A, "10.77.0.10")] }]);
    const r = net.open.get("br0")!.receive;
    expect(() => r(new Uint8Array(5))).not.toThrow();
    expect(() => r(new Uint8Array(2000))).not.toThrow();
    expect(reg.render()).toContain('netlet_dhcp_dropped_total{reason="truncated"} 1');
    expect(reg.render()).toContain('netlet_dhcp_dropped_total{reason="oversized"} 1');
  });

  test("host table replaced without reopening; a removed bridge's socket closes; a re-created bridge gets a new socket", () => {
    const { net, svc } = setup();
    svc.setBridges([
      { bridge: "br0", hosts: [host(A, "10.77.0.10")] },
      { bridge: "br1", hosts: [] },
    ]);
    svc.setBridges([{ bridge: "br0", hosts: [host(A, "10.77.0.10"), host(B, "10.77.0.11")] }]);
    expect(net.opened).toEqual(["br0#10", "br1#11"]);
    expect([...net.open.keys()]).toEqual(["br0"]);
    net.open.get("br0")!.receive(packet(MessageType.Discover, B));
    expect(net.sent.at(-1)?.address).toBe("10.77.0.11");
    net.ifindex.set("br0", 42); // deleted and re-created
    svc.checkSockets();
    expect(net.opened).toEqual(["br0#10", "br1#11", "br0#42"]);
    net.ifindex.delete("br0"); // gone: no socket until it is back
    svc.checkSockets();
    expect(svc.servedBridges).toEqual([]);
    net.ifindex.set("br0", 43);
    svc.checkSockets();
    expect(svc.servedBridges).toEqual(["br0"]);
  });

  test("a socket that cannot be opened is retried on every check and logged once per error", () => {
    const net = new FakeNet();
    const logs: string[] = [];
    let fail = true;
    const svc = new DhcpService({
      leases: new MemoryLeaseStore(),
      metrics: dhcpMetrics(new Registry()),
      clock: new FakeClock(T0),
      log: createLogger({ write: (line) => logs.push(line.replace(/^ts=\S+ /, "")) }),
      openSocket: (bridge, receive) => {
        if (fail) throw new Error("bind failed: EADDRINUSE");
        return net.openSocket(bridge, receive);
      },
      ifindexOf: (b) => net.ifindex.get(b) ?? 0,
    });
    services.push(svc);
    svc.setBridges([{ bridge: "br0", hosts: [host(A, "10.77.0.10")] }]);
    svc.checkSockets();
    svc.checkSockets();
    expect(logs).toEqual(['level=warn msg="cannot open DHCP socket" bridge=br0 err="Error: bind failed: EADDRINUSE"']);
    fail = false;
    svc.checkSockets();
    expect(svc.servedBridges).toEqual(["br0"]);
  });

  test("ACK writes the lease; removing the host releases it at once and its next renewal is NAKed", () => {
    const { net, svc, leases, events } = setup();
    svc.setBridges([{ bridge: "br0", hosts: [host(A, "10.77.0.10"), host(B, "10.77.0.11")] }]);
    const r = net.open.get("br0")!.receive;
    r(packet(MessageType.Request, A, { ciaddr: "10.77.0.10" }));
    svc.flushLeases();
    expect(leases.get("net-1", A)?.state).toBe("leased");
    svc.setBridges([{ bridge: "br0", hosts: [host(B, "10.77.0.11")] }]);
    svc.flushLeases();
    expect(leases.get("net-1", A)?.state).toBe("released");
    expect(events.map((e) => e.type)).toEqual(["lease.added", "lease.released"]);
    r(packet(MessageType.Request, A, { ciaddr: "10.77.0.10" }));
    expect(net.sent.at(-1)).toEqual({ bridge: "br0", type: MessageType.Nak, port: 68, address: "255.255.255.255" });
  });

  test("force_dhcp_release off: a removed host's lease is left to expire and its renewal is ignored", () => {
    const { net, svc, leases, events } = setup({ forceRelease: false });
    svc.setBridges([{ bridge: "br0", hosts: [host(A, "10.77.0.10")] }]);
    net.open.get("br0")!.receive(packet(MessageType.Request, A, { ciaddr: "10.77.0.10" }));
    svc.setBridges([{ bridge: "br0", hosts: [] }]);
    svc.flushLeases();
    expect(leases.get("net-1", A)?.state).toBe("leased");
    net.open.get("br0")!.receive(packet(MessageType.Request, A, { ciaddr: "10.77.0.10" }));
    expect(net.sent.map((x) => x.type)).toEqual([MessageType.Ack]);
    expect(events.map((e) => e.type)).toEqual(["lease.added"]);
  });

  test("a host whose instance moved to another host keeps its lease and is not NAKed here, also when the bridge goes", () => {
    const { net, svc, leases, events } = setup();
    svc.setBridges([{ bridge: "br0", hosts: [host(A, "10.77.0.10"), host(B, "10.77.0.11")] }]);
    const r = net.open.get("br0")!.receive;
    r(packet(MessageType.Request, A, { ciaddr: "10.77.0.10" }));
    r(packet(MessageType.Request, B, { ciaddr: "10.77.0.11" }));
    svc.flushLeases();
    svc.setBridges([{ bridge: "br0", hosts: [host(B, "10.77.0.11")] }], new Set([A]));
    // Its renewal reaching this host (a shared segment) is left to its new host: no NAK.
    const sent = net.sent.length;
    r(packet(MessageType.Request, A, { ciaddr: "10.77.0.10" }));
    expect(net.sent.length).toBe(sent);
    svc.setBridges([], new Set([A, B]));
    svc.flushLeases();
    expect([leases.get("net-1", A)?.state, leases.get("net-1", B)?.state]).toEqual(["leased", "leased"]);
    expect(events.map((e) => e.type)).toEqual(["lease.added", "lease.added"]);
  });

  test("a host added back after removal is served again, not NAKed", () => {
    const { net, svc } = setup();
    svc.setBridges([{ bridge: "br0", hosts: [host(A, "10.77.0.10")] }]);
    svc.setBridges([{ bridge: "br0", hosts: [] }]);
    svc.setBridges([{ bridge: "br0", hosts: [host(A, "10.77.0.10")] }]);
    net.open.get("br0")!.receive(packet(MessageType.Request, A, { ciaddr: "10.77.0.10" }));
    expect(net.sent.at(-1)?.type).toBe(MessageType.Ack);
  });

  test("the periodic sweep marks leases past expiry as expired, once", async () => {
    const { net, svc, leases, events, clock } = setup();
    svc.setBridges([{ bridge: "br0", hosts: [host(A, "10.77.0.10")] }]);
    net.open.get("br0")!.receive(packet(MessageType.Request, A, { ciaddr: "10.77.0.10" }));
    // The lease (3600 s) ends at T0 + 3600 s; the sweep runs every minute.
    await clock.advance(3599_000);
    svc.flushLeases();
    expect(leases.get("net-1", A)?.state).toBe("leased");
    await clock.advance(60_000);
    expect(leases.get("net-1", A)?.state).toBe("expired");
    await clock.advance(600_000);
    expect(events.map((e) => e.type)).toEqual(["lease.added", "lease.expired"]);
  });

  test("another node's expired lease is left to that node for an hour, then expired here", async () => {
    const { svc, leases, events, clock } = setup();
    svc.setBridges([{ bridge: "br0", hosts: [host(A, "10.77.0.10")] }]);
    leases.put({
      networkId: "net-1",
      mac: B,
      address: "10.77.0.50",
      hostname: null,
      clientId: null,
      state: "leased",
      expiresAt: T0,
      updatedAt: T0,
    });
    await clock.advance(3599_000);
    svc.flushLeases();
    expect(leases.get("net-1", B)?.state).toBe("leased");
    await clock.advance(60_000);
    svc.flushLeases();
    expect(leases.get("net-1", B)?.state).toBe("expired");
    expect(events.map((e) => e.type)).toEqual(["lease.expired"]);
    expect(events[0].at).toBe(T0 + 3600_000);
  });

  test("a bridge re-created between store changes gets a new socket at the next periodic check", async () => {
    const { net, svc, clock } = setup();
    svc.setBridges([{ bridge: "br0", hosts: [host(A, "10.77.0.10")] }]);
    net.ifindex.set("br0", 42);
    await clock.advance(1999);
    expect(net.opened).toEqual(["br0#10"]);
    await clock.advance(1);
    expect(net.opened).toEqual(["br0#10", "br0#42"]);
    await svc.stop();
    net.ifindex.set("br0", 43);
    await clock.advance(10_000);
    expect(net.opened).toEqual(["br0#10", "br0#42"]);
  });

  test("per-MAC rate limit drops a flooding client", () => {
    const { net, svc, reg } = setup();
    svc.setBridges([{ bridge: "br0", hosts: [host(A, "10.77.0.10")] }]);
    for (let i = 0; i < 100; i++) net.open.get("br0")!.receive(packet(MessageType.Discover, A));
    expect(net.sent.length).toBe(32);
    expect(reg.render()).toContain('netlet_dhcp_dropped_total{reason="rate_mac"} 68');
  });

  test("a store that throws does not stop the reply", async () => {
    const { net, svc, leases, reg, clock } = setup();
    leases.apply = () => {
      throw new Error("disk full");
    };
    svc.setBridges([{ bridge: "br0", hosts: [host(A, "10.77.0.10")] }]);
    net.open.get("br0")!.receive(packet(MessageType.Request, A, { ciaddr: "10.77.0.10" }));
    expect(net.sent.at(-1)?.type).toBe(MessageType.Ack);
    await clock.settle(); // the batched write runs on the next loop turn
    expect(reg.render()).toContain('netlet_dhcp_dropped_total{reason="store_error"} 1');
  });
});

describe("DhcpService reconcile", () => {
  test("an unchanged table keeps serving; a changed host's new options apply at once", () => {
    const { net, svc } = setup();
    const a = host(A, "10.77.0.10");
    svc.setBridges([{ bridge: "br0", hosts: [a, host(B, "10.77.0.11", { mtu: 1500 })] }]);
    const prl: [number, Uint8Array][] = [[Opt.ParameterList, Uint8Array.of(26)]];
    net.open.get("br0")!.receive(packet(MessageType.Discover, B, { extra: prl }));
    svc.setBridges([{ bridge: "br0", hosts: [{ ...a }, host(B, "10.77.0.11", { mtu: 1400 })] }]);
    net.open.get("br0")!.receive(packet(MessageType.Discover, A));
    net.open.get("br0")!.receive(packet(MessageType.Discover, B, { extra: prl }));
    const mtus = net.packets.map((p) => {
      const d = decode(p);
      return d.ok ? d.message.options.get(Opt.InterfaceMtu) : undefined;
    });
    expect(mtus[0]).toEqual(Uint8Array.of(5, 220));
    expect(mtus[2]).toEqual(Uint8Array.of(5, 120));
    expect(net.sent.map((x) => x.address)).toEqual(["10.77.0.11", "10.77.0.10", "10.77.0.11"]);
    expect(net.opened).toEqual(["br0#10"]);
  });
});
