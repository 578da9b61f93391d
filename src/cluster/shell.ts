/**
 * The thin I/O shell around a ClusterNode: one UDP socket on Bun, one re-armed timer for the
 * core's next deadline, AES-GCM on every datagram, and an event-loop lag probe that feeds
 * Lifeguard's local health (a blocked loop delays our acks exactly like a slow CPU does).
 * Every datagram is handled inside try/catch: nothing that arrives can stop the loop.
 */
import ipaddr from "ipaddr.js";
import { type Counter, type Gauge, type Histogram, Registry } from "../metrics.ts";
import type { PacketCrypto } from "./crypto.ts";
import type { KeyringLayer } from "./keyring-sync.ts";
import type { ClusterNode } from "./node.ts";

export interface ShellOptions {
  /** Builds the node once the socket is bound, given its "host:port" address. */
  makeNode: (addr: string) => ClusterNode;
  crypto: PacketCrypto;
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  metrics?: Registry;
  /** Cluster-wide key rotation; peers on an old key are sent the current keyring. */
  keyring?: KeyringLayer;
  /** Wall clock for the core (ms). */
  now?: () => number;
  lagIntervalMs?: number;
}

/** "10.0.0.1:7946" or "[fd00::1]:7946" → parts; null when not an address. */
export function splitHostPort(addr: string): { host: string; port: number } | null {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(addr);
  if (!m || !ipaddr.isValid(m[1])) return null;
  const port = Number(m[2]);
  return port > 0 && port < 65_536 ? { host: m[1], port } : null;
}

export function joinHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

export class ClusterShell {
  node!: ClusterNode;
  readonly #o: ShellOptions;
  readonly #now: () => number;
  #sock!: Bun.udp.Socket<"buffer">;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #timerAt = Infinity;
  #lagTimer: ReturnType<typeof setInterval> | null = null;
  /** Peers last heard on a non-primary key get answers on that key (rotation grace). */
  readonly #peerKey = new Map<string, number>();
  readonly #decoder = new TextDecoder("utf-8", { fatal: true });
  readonly #rejected: Counter;
  readonly #sent: Counter;
  readonly #received: Counter;
  readonly #lag: Gauge;
  readonly #lagSeconds: Histogram;
  #stopped = false;

  private constructor(o: ShellOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    const reg = o.metrics ?? new Registry();
    this.#rejected = reg.counter(
      "netlet_cluster_packets_rejected_total",
      "Datagrams dropped before the core: bad key, failed authentication, replay, malformed",
    );
    this.#sent = reg.counter("netlet_cluster_bytes_sent_total", "Encrypted gossip bytes sent");
    this.#received = reg.counter("netlet_cluster_bytes_received_total", "Gossip bytes received");
    this.#lag = reg.gauge("netlet_cluster_event_loop_lag_ms", "Last measured event-loop lag");
    this.#lagSeconds = reg.histogram(
      "netlet_cluster_event_loop_lag_seconds",
      "Event-loop lag, measured every 100 ms (T12: p99 < 20 ms)",
      [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    );
  }

  static async start(o: ShellOptions): Promise<ClusterShell> {
    const s = new ClusterShell(o);
    s.#sock = await Bun.udpSocket({
      hostname: o.host,
      port: o.port,
      socket: {
        data: (_sock, buf, port, address) => s.#onDatagram(buf, port, address),
        // ICMP unreachable from a dead peer surfaces here; it is expected, not fatal.
        error: () => s.#rejected.inc({ reason: "socket-error" }),
      },
    });
    s.node = o.makeNode(joinHostPort(o.host, s.#sock.port));
    if (o.keyring) {
      o.keyring.attach(s.node.swim);
      s.node.layers.push(o.keyring);
    }
    s.#flush();
    s.#startLagProbe(o.lagIntervalMs ?? 100);
    return s;
  }

  get addr(): string {
    return this.node.addr;
  }

  /** Run an action on the node (API write, join, leave) and send what it produced. */
  act(f: (node: ClusterNode, now: number) => void): void {
    if (this.#stopped) return;
    const now = this.#now();
    this.node.act(now, () => f(this.node, now));
    this.#flush();
  }

  rejected(reason: string): number {
    return this.#rejected.get({ reason });
  }

  /** Close the socket and timers (without a leave: callers `act(n => n.swim.leave())` first). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#lagTimer) clearInterval(this.#lagTimer);
    this.#sock.close();
  }

  #onDatagram(buf: Buffer, port: number, address: string): void {
    if (this.#stopped) return;
    try {
      const now = this.#now();
      this.#received.inc(undefined, buf.length);
      const r = this.#o.crypto.open(buf, now);
      if (!r.ok) return this.#rejected.inc({ reason: r.error });
      let text: string;
      try {
        text = this.#decoder.decode(r.plain);
      } catch {
        return this.#rejected.inc({ reason: "utf8" });
      }
      const from = joinHostPort(address, port);
      if (r.keyId !== this.#o.crypto.keyring.primaryId) this.#peerKey.set(from, r.keyId);
      else this.#peerKey.delete(from);
      this.node.receive(now, from, text, r.sender);
      if (r.keyId !== this.#o.crypto.keyring.primaryId) this.node.act(now, () => this.#o.keyring?.offer(from, now));
      this.#flush();
    } catch {
      this.#rejected.inc({ reason: "internal" });
    }
  }

  #flush(): void {
    if (this.#stopped) return;
    const now = this.#now();
    for (const p of this.node.drainPackets()) {
      const dst = splitHostPort(p.to);
      if (!dst) continue;
      try {
        const sealed = this.#o.crypto.seal(Buffer.from(p.data), now, this.#peerKey.get(p.to));
        this.#sock.send(sealed, dst.port, dst.host);
        this.#sent.inc(undefined, sealed.length);
      } catch {
        this.#rejected.inc({ reason: "send" });
      }
    }
    this.#arm(now);
  }

  #arm(now: number): void {
    const at = this.node.nextDeadline();
    if (at >= this.#timerAt && this.#timer) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#onTimer(), Math.max(0, Math.min(at - now, 60_000)));
  }

  #onTimer(): void {
    this.#timer = null;
    this.#timerAt = Infinity;
    if (this.#stopped) return;
    try {
      this.node.tick(this.#now());
    } catch {
      this.#rejected.inc({ reason: "internal" });
    }
    this.#flush();
  }

  /** A timer that should fire every `ms`; how late it fires is the loop's lag. */
  #startLagProbe(ms: number): void {
    let expected = performance.now() + ms;
    this.#lagTimer = setInterval(() => {
      const lag = Math.max(0, performance.now() - expected);
      expected = performance.now() + ms;
      this.#lag.set(lag);
      this.#lagSeconds.observe(lag / 1000);
      this.node.swim.reportLag(lag);
    }, ms);
  }
}
