/**
 * The DHCP server's I/O shell: one socket per served bridge, the host tables, rate limits,
 * lease writes, events and counters around the sans-IO core in server.ts.
 *
 * The composition root calls `setBridges` on every store change; it replaces host tables in
 * place (no restart), opens and closes sockets, and gives a bridge that was deleted and
 * re-created a fresh socket (its ifindex changed). The same check runs periodically so a bridge
 * that appears later, or is re-created between store changes, is picked up too.
 *
 * Datagrams are not queued in user space: each is handled to completion in its receive callback,
 * so the only packet buffer is the kernel's bounded socket buffer. Lease writes are batched per
 * event-loop turn (lease-batch.ts, bounded too).
 */
import { decode } from "./codec.ts";
import type { DhcpHost } from "./host.ts";
import { macText } from "../net/mac.ts";
import { BatchedLeaseStore } from "./lease-batch.ts";
import type { LeaseEvent, LeaseOp, LeaseRecord, LeaseStore } from "./leases.ts";
import { DEFAULT_LIMITS, RateLimiter, type RateLimits } from "./limits.ts";
import { dhcpMetrics, type DhcpMetrics } from "./metrics.ts";
import { MESSAGE_NAMES, Opt, readU8 } from "./options.ts";
import { handle, type Destination, type DropReason } from "./server.ts";
import { expireLeases, hostTable, retireRemoved, type BridgeTable } from "./lease-lifecycle.ts";
import { openBridgeSocket, type BridgeSocket, type OpenBridgeSocket } from "./bridge-socket.ts";
import { ifNameToIndex } from "../sys/udp-device.ts";
import { createLogger, type Logger } from "../log.ts";
import { type Cancel, type Clock, realClock } from "../util/clock.ts";

export interface BridgeHosts {
  bridge: string;
  hosts: DhcpHost[];
}

export interface DhcpServiceOptions {
  leases: LeaseStore;
  /** Time for leases and rate limits, and the periodic checks' timers. */
  clock?: Clock;
  random?: () => number;
  onEvent?: (e: LeaseEvent) => void;
  log?: Logger;
  metrics?: DhcpMetrics;
  limits?: RateLimits;
  /** How often to look for re-created or newly appeared bridges (ms, default 2000). */
  checkIntervalMs?: number;
  /** How often to mark expired leases (ms, default 60000). */
  sweepIntervalMs?: number;
  /** nova force_dhcp_release (default true): a removed host's lease ends at once, renewals get a NAK. */
  forceRelease?: boolean;
  openSocket?: OpenBridgeSocket;
  ifindexOf?: (bridge: string) => number;
}

interface Bridge extends BridgeTable {
  name: string;
  /** Last failure to open the socket, so a retry every few seconds logs it only once. */
  openError: string | null;
  serverId: string | null;
  socket: BridgeSocket | null;
}

export class DhcpService {
  readonly #bridges = new Map<string, Bridge>();
  readonly #opts: Required<Omit<DhcpServiceOptions, "onEvent">> & Pick<DhcpServiceOptions, "onEvent">;
  readonly #limiter: RateLimiter;
  readonly #leases: BatchedLeaseStore;
  readonly #timers: Cancel[] = [];

  constructor(opts: DhcpServiceOptions) {
    this.#opts = {
      clock: realClock,
      random: Math.random,
      log: createLogger({ level: "warn", base: { component: "dhcp" } }),
      metrics: dhcpMetrics(),
      limits: DEFAULT_LIMITS,
      checkIntervalMs: 2000,
      sweepIntervalMs: 60_000,
      forceRelease: true,
      openSocket: openBridgeSocket,
      ifindexOf: ifNameToIndex,
      ...opts,
    };
    this.#limiter = new RateLimiter(this.#opts.limits, this.#opts.clock.now());
    this.#leases = new BatchedLeaseStore(this.#opts.leases, {
      onError: (err) => {
        this.#drop("store_error");
        this.#opts.log.error("lease write failed", { err: String(err) });
      },
    });
    const clock = this.#opts.clock;
    this.#timers.push(clock.every(this.#opts.checkIntervalMs, () => this.checkSockets()));
    this.#timers.push(clock.every(this.#opts.sweepIntervalMs, () => this.sweep()));
  }

  /**
   * Replaces the whole desired state: the bridges to serve and their hosts. `away` are MACs that
   * left the tables because their instance moved to another host (live migration): their leases
   * go on there, so they are neither released nor refused here.
   */
  setBridges(list: readonly BridgeHosts[], away: ReadonlySet<string> = new Set()): void {
    const wanted = new Set(list.map((b) => b.bridge));
    for (const [name, b] of this.#bridges) {
      if (wanted.has(name)) continue;
      this.#releaseRemoved(b, new Map(), away);
      b.socket?.close();
      this.#bridges.delete(name);
    }
    for (const { bridge, hosts } of list) {
      const b = this.#bridges.get(bridge) ?? this.#addBridge(bridge);
      const table = hostTable(b.hosts, hosts);
      this.#releaseRemoved(b, table, away);
      b.hosts = table;
      for (const h of table.values()) {
        b.networkIds.add(h.networkId);
        b.serverId = h.serverId;
      }
    }
    this.checkSockets();
  }

  /** Opens missing sockets and replaces those whose bridge was re-created. */
  checkSockets(): void {
    for (const b of this.#bridges.values()) {
      const index = this.#opts.ifindexOf(b.name);
      if (b.socket && b.socket.ifindex === index) continue;
      if (b.socket) {
        this.#opts.log.info("bridge changed, reopening socket", { bridge: b.name, ifindex: index });
        b.socket.close();
        b.socket = null;
      }
      if (index === 0) continue;
      try {
        b.socket = this.#opts.openSocket(
          b.name,
          (p) => this.#receive(b, p),
          (err) => this.#opts.log.error("socket error", { bridge: b.name, err: String(err) }),
        );
        b.openError = null;
      } catch (err) {
        // e.g. EADDRINUSE while dnsmasq still serves the bridge; retried on every check.
        if (b.openError !== String(err))
          this.#opts.log.warn("cannot open DHCP socket", { bridge: b.name, err: String(err) });
        b.openError = String(err);
      }
    }
  }

  /** Marks expired leases (see expireLeases for which ones this node handles). */
  sweep(): void {
    const { ops, events } = expireLeases([...this.#bridges.values()], this.#leases, this.#opts.clock.now());
    this.#commit(ops, events);
  }

  /** Leases for `netlet dhcp leases [--network]`. */
  leases(networkId?: string): LeaseRecord[] {
    return this.#leases.list(networkId);
  }

  /** Bridges with an open socket. */
  get servedBridges(): string[] {
    return [...this.#bridges.values()].filter((b) => b.socket).map((b) => b.name);
  }

  /** Writes pending lease changes now (they are otherwise batched per event-loop turn). */
  flushLeases(): void {
    this.#leases.flush();
  }

  async stop(): Promise<void> {
    for (const cancel of this.#timers.splice(0)) cancel();
    this.#leases.flush();
    for (const b of this.#bridges.values()) b.socket?.close();
    this.#bridges.clear();
  }

  #addBridge(name: string): Bridge {
    const b: Bridge = {
      name,
      hosts: new Map(),
      networkIds: new Set(),
      retired: new Map(),
      serverId: null,
      socket: null,
      openError: null,
    };
    this.#bridges.set(name, b);
    return b;
  }

  /** force_dhcp_release: see retireRemoved. */
  #releaseRemoved(b: Bridge, next: Map<string, DhcpHost>, away: ReadonlySet<string>): void {
    const { ops, events } = retireRemoved(b, next, this.#leases, this.#opts.clock.now(), this.#opts.forceRelease, away);
    this.#commit(ops, events);
  }

  #receive(b: Bridge, packet: Uint8Array): void {
    const m = this.#opts.metrics;
    try {
      const now = this.#opts.clock.now();
      if (!this.#limiter.allowGlobal(now)) return this.#drop("rate_global");
      const d = decode(packet);
      if (!d.ok) return this.#drop(d.error);
      const type = readU8(d.message.options.get(Opt.MessageType));
      m.received.inc({ type: MESSAGE_NAMES[type ?? 0] ?? "unknown" });
      if (!this.#limiter.allowMac(macText(d.message.chaddr), now)) return this.#drop("rate_mac");
      const ctx = {
        now,
        random: this.#opts.random,
        hosts: b.hosts,
        retired: b.retired,
        leases: this.#leases,
        serverId: b.serverId,
      };
      const res = handle(d.message, ctx);
      if (res.kind === "drop") return this.#drop(res.reason);
      this.#commit(res.leaseOps, res.events);
      if (res.kind !== "reply") return;
      for (const code of res.omitted) this.#opts.metrics.optionsOmitted.inc({ option: String(code) });
      this.#send(b, res.reply, res.destination, res.type);
    } catch (err) {
      this.#drop("internal_error");
      this.#opts.log.error("DHCP packet handling failed", { bridge: b.name, err: String(err) });
    }
  }

  #commit(ops: LeaseOp[], events: LeaseEvent[]): void {
    if (ops.length) this.#leases.apply(ops);
    for (const e of events) {
      this.#opts.metrics.leaseEvents.inc({ type: e.type });
      if (e.type === "lease.declined") this.#opts.log.warn("client declined its address (conflict)", { ...e });
      try {
        this.#opts.onEvent?.(e);
      } catch (err) {
        // A failing subscriber must not cost the client its reply.
        this.#opts.log.error("lease event handler failed", { type: e.type, err: String(err) });
      }
    }
  }

  #send(b: Bridge, bytes: Uint8Array, dest: Destination, type: number): void {
    const sock = b.socket;
    if (!sock) return this.#drop("no_socket");
    let address = dest.kind === "broadcast" ? "255.255.255.255" : dest.address;
    if (dest.kind === "unicast-hw") {
      try {
        sock.setArp(dest.address, dest.mac);
      } catch (err) {
        // Without the neighbour entry the unicast would stall on ARP: broadcast instead.
        this.#opts.log.warn("ARP entry failed, broadcasting", { bridge: b.name, err: String(err) });
        address = "255.255.255.255";
      }
    }
    sock.send(bytes, dest.port, address, (err) => {
      if (err) this.#opts.metrics.sendErrors.inc({ error: (err as NodeJS.ErrnoException).code ?? "error" });
      else this.#opts.metrics.sent.inc({ type: MESSAGE_NAMES[type] ?? String(type) });
    });
  }

  #drop(reason: DropReason | "rate_global" | "rate_mac" | "internal_error" | "store_error" | "no_socket"): void {
    this.#opts.metrics.dropped.inc({ reason });
  }
}
