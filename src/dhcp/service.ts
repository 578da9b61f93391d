/**
 * The DHCP server's I/O shell: one socket per served bridge, the host tables, rate limits,
 * lease writes, events and counters around the sans-IO core in server.ts.
 *
 * The composition root calls `setBridges` on every store change; it replaces host tables in
 * place (no restart), opens and closes sockets, and gives a bridge that was deleted and
 * re-created a fresh socket (its ifindex changed). The same check runs periodically so a bridge
 * that appears later, or is re-created between store changes, is picked up too.
 *
 * Nothing is queued in user space: each datagram is handled to completion in its receive
 * callback, so the only buffer is the kernel's bounded socket buffer.
 */
import { decode } from "./codec.ts";
import { macText, type DhcpHost } from "./host.ts";
import { BatchedLeaseStore } from "./lease-batch.ts";
import { isActive, type LeaseEvent, type LeaseOp, type LeaseRecord, type LeaseStore } from "./leases.ts";
import { DEFAULT_LIMITS, RateLimiter, type RateLimits } from "./limits.ts";
import { dhcpMetrics, type DhcpMetrics } from "./metrics.ts";
import { MESSAGE_NAMES, Opt, readU8 } from "./options.ts";
import { handle, leaseEvent, type Destination, type DropReason, type RetiredHost } from "./server.ts";

/** Most removed hosts remembered per bridge; the oldest are forgotten first. */
const MAX_RETIRED = 4096;
/** How long past expiry another node's lease may stay unexpired before this node does it. */
const ORPHAN_GRACE_MS = 3600_000;
import { openBridgeSocket, type BridgeSocket, type OpenBridgeSocket } from "./bridge-socket.ts";
import { ifNameToIndex } from "../sys/udp-device.ts";

export interface BridgeHosts {
  bridge: string;
  hosts: DhcpHost[];
}

export type Log = (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;

export interface DhcpServiceOptions {
  leases: LeaseStore;
  now?: () => number;
  random?: () => number;
  onEvent?: (e: LeaseEvent) => void;
  log?: Log;
  metrics?: DhcpMetrics;
  limits?: RateLimits;
  /** How often to look for re-created or newly appeared bridges (ms, default 2000). */
  checkIntervalMs?: number;
  /** How often to mark expired leases (ms, default 60000). */
  sweepIntervalMs?: number;
  openSocket?: OpenBridgeSocket;
  ifindexOf?: (bridge: string) => number;
}

interface Bridge {
  name: string;
  hosts: Map<string, DhcpHost>;
  /** Every network seen on this bridge, for the expiry sweep. */
  networkIds: Set<string>;
  /** Hosts removed from this bridge's table, so their renewals are NAKed (bounded). */
  retired: Map<string, RetiredHost>;
  serverId: string | null;
  socket: BridgeSocket | null;
}

const defaultLog: Log = (level, msg, fields) => {
  if (level !== "info") console.error(JSON.stringify({ level, component: "dhcp", msg, ...fields }));
};

/**
 * The new table for a bridge. Entries equal to the current ones keep their object, so the
 * per-host encoded options (cached by object identity in reply.ts) survive a reconcile that
 * changed nothing for them, which is the common case: setBridges runs on every store change.
 */
function hostTable(current: ReadonlyMap<string, DhcpHost>, hosts: readonly DhcpHost[]): Map<string, DhcpHost> {
  const table = new Map<string, DhcpHost>();
  for (const h of hosts) {
    const mac = h.mac.toLowerCase();
    const next = { ...h, mac };
    const old = current.get(mac);
    table.set(mac, old && JSON.stringify(old) === JSON.stringify(next) ? old : next);
  }
  return table;
}

export class DhcpService {
  readonly #bridges = new Map<string, Bridge>();
  readonly #opts: Required<Omit<DhcpServiceOptions, "onEvent">> & Pick<DhcpServiceOptions, "onEvent">;
  readonly #limiter: RateLimiter;
  readonly #leases: BatchedLeaseStore;
  readonly #timers: ReturnType<typeof setInterval>[] = [];

  constructor(opts: DhcpServiceOptions) {
    this.#opts = {
      now: Date.now,
      random: Math.random,
      log: defaultLog,
      metrics: dhcpMetrics(),
      limits: DEFAULT_LIMITS,
      checkIntervalMs: 2000,
      sweepIntervalMs: 60_000,
      openSocket: openBridgeSocket,
      ifindexOf: ifNameToIndex,
      ...opts,
    };
    this.#limiter = new RateLimiter(this.#opts.limits, this.#opts.now());
    this.#leases = new BatchedLeaseStore(this.#opts.leases, {
      onError: (err) => {
        this.#drop("store_error");
        this.#opts.log("error", "lease write failed", { err: String(err) });
      },
    });
    this.#timers.push(setInterval(() => this.checkSockets(), this.#opts.checkIntervalMs));
    this.#timers.push(setInterval(() => this.sweep(), this.#opts.sweepIntervalMs));
    for (const t of this.#timers) t.unref?.();
  }

  /** Replaces the whole desired state: the bridges to serve and their hosts. */
  setBridges(list: readonly BridgeHosts[]): void {
    const wanted = new Set(list.map((b) => b.bridge));
    for (const [name, b] of this.#bridges) {
      if (wanted.has(name)) continue;
      this.#releaseRemoved(b, new Map());
      b.socket?.close();
      this.#bridges.delete(name);
    }
    for (const { bridge, hosts } of list) {
      const b = this.#bridges.get(bridge) ?? this.#addBridge(bridge);
      const table = hostTable(b.hosts, hosts);
      this.#releaseRemoved(b, table);
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
        this.#opts.log("info", "bridge changed, reopening socket", { bridge: b.name, ifindex: index });
        b.socket.close();
        b.socket = null;
      }
      if (index === 0) continue;
      try {
        b.socket = this.#opts.openSocket(b.name, (p) => this.#receive(b, p), (err) => this.#opts.log("error", "socket error", { bridge: b.name, err: String(err) }));
      } catch (err) {
        this.#opts.log("warn", "cannot open DHCP socket", { bridge: b.name, err: String(err) });
      }
    }
  }

  /**
   * Marks leases past their expiry as expired. Leases are replicated, so each node expires the
   * ones of MACs it serves (or recently removed); a lease nobody expired within ORPHAN_GRACE_MS
   * (its node is gone, or removed it while this one was down) is expired by whoever sees it.
   */
  sweep(): void {
    const now = this.#opts.now();
    const ops: LeaseOp[] = [];
    const events: LeaseEvent[] = [];
    const bridges = [...this.#bridges.values()];
    const mine = (mac: string) => bridges.some((b) => b.hosts.has(mac) || b.retired.has(mac));
    for (const id of new Set(bridges.flatMap((b) => [...b.networkIds]))) {
      for (const l of this.#leases.list(id)) {
        if (!isActive(l.state) || l.expiresAt > now) continue;
        if (!mine(l.mac) && now - l.expiresAt < ORPHAN_GRACE_MS) continue;
        const lease: LeaseRecord = { ...l, state: "expired", updatedAt: now };
        ops.push({ op: "put", lease });
        events.push(leaseEvent("lease.expired", lease, now));
      }
    }
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
    for (const t of this.#timers.splice(0)) clearInterval(t);
    this.#leases.flush();
    for (const b of this.#bridges.values()) b.socket?.close();
    this.#bridges.clear();
  }

  #addBridge(name: string): Bridge {
    const b: Bridge = { name, hosts: new Map(), networkIds: new Set(), retired: new Map(), serverId: null, socket: null };
    this.#bridges.set(name, b);
    return b;
  }

  /**
   * force_dhcp_release: a host leaving the table (instance deleted) loses its lease at once and
   * is remembered as retired until its lease would have expired, so its renewal gets a NAK.
   */
  #releaseRemoved(b: Bridge, next: Map<string, DhcpHost>): void {
    const now = this.#opts.now();
    const ops: LeaseOp[] = [];
    const events: LeaseEvent[] = [];
    for (const mac of next.keys()) b.retired.delete(mac);
    for (const [mac, h] of b.hosts) {
      if (next.get(mac)?.networkId === h.networkId) continue;
      b.retired.delete(mac);
      b.retired.set(mac, { networkId: h.networkId, address: h.address, until: now + h.leaseTime * 1000 });
      if (b.retired.size > MAX_RETIRED) b.retired.delete(b.retired.keys().next().value as string);
      const l = this.#leases.get(h.networkId, mac);
      if (!l || !isActive(l.state)) continue;
      const lease: LeaseRecord = { ...l, state: "released", expiresAt: now, updatedAt: now };
      ops.push({ op: "put", lease });
      events.push(leaseEvent("lease.released", lease, now));
    }
    this.#commit(ops, events);
  }

  #receive(b: Bridge, packet: Uint8Array): void {
    const m = this.#opts.metrics;
    try {
      const now = this.#opts.now();
      if (!this.#limiter.allowGlobal(now)) return this.#drop("rate_global");
      const d = decode(packet);
      if (!d.ok) return this.#drop(d.error);
      const type = readU8(d.message.options.get(Opt.MessageType));
      m.received.inc({ type: MESSAGE_NAMES[type ?? 0] ?? "unknown" });
      if (!this.#limiter.allowMac(macText(d.message.chaddr), now)) return this.#drop("rate_mac");
      const ctx = { now, random: this.#opts.random, hosts: b.hosts, retired: b.retired, leases: this.#leases, serverId: b.serverId };
      const res = handle(d.message, ctx);
      if (res.kind === "drop") return this.#drop(res.reason);
      this.#commit(res.leaseOps, res.events);
      if (res.kind === "reply") this.#send(b, res.reply, res.destination, res.type);
    } catch (err) {
      this.#drop("internal_error");
      this.#opts.log("error", "DHCP packet handling failed", { bridge: b.name, err: String(err) });
    }
  }

  #commit(ops: LeaseOp[], events: LeaseEvent[]): void {
    if (ops.length) this.#leases.apply(ops);
    for (const e of events) {
      this.#opts.metrics.leaseEvents.inc({ type: e.type });
      if (e.type === "lease.declined") this.#opts.log("warn", "client declined its address (conflict)", { ...e });
      this.#opts.onEvent?.(e);
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
        this.#opts.log("warn", "ARP entry failed, broadcasting", { bridge: b.name, err: String(err) });
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
