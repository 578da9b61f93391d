/**
 * The DNS server's I/O shell: a UDP and a TCP socket on each served bridge's host address, the
 * source check, the rate limit, the cache and the upstreams around the sans-IO core in
 * answer.ts. The composition root calls `setPlan` on every reconcile pass; it swaps the zone in
 * place and opens or closes listeners. An address that is not on its bridge yet (links still
 * being applied, IPv6 DAD) is retried every few seconds, logged once.
 *
 * Not an open resolver: it listens only on bridge host addresses; a query from a source outside
 * the listener's own networks is refused when it comes from another served network and dropped
 * otherwise (the nft input rules already drop port 53 to these addresses from non-bridge links).
 */
import { createLogger, type Logger } from "../log.ts";
import { type Cancel, type Clock, realClock } from "../util/clock.ts";
import type { udp } from "bun";
import { decide, type Decision, type Reply, type Self } from "./answer.ts";
import { cacheKey, cacheTtl, DnsCache, type CacheOptions } from "./cache.ts";
import { decodeMessage, encodeReply, errorReply, TCP_MAX, udpLimit } from "./message.ts";
import { dnsMetrics, type DnsMetrics } from "./metrics.ts";
import { SourceLimiter, type RateLimitOptions } from "./rate-limit.ts";
import { DEFAULT_UPSTREAM, Upstreams, type UpstreamOptions } from "./upstream.ts";
import { buildZone, type Zone } from "./zone.ts";
import { ReplyMemo, type MemoLabels } from "./memo.ts";
import { listenTcp } from "./tcp.ts";
import { Admission } from "./admission.ts";
import type { DecodedPacket, Question } from "dns-packet";

export interface ListenerPlan {
  address: string;
  bridge: string;
  /** Networks (CIDR) whose sources this listener serves. */
  allowed: string[];
  /** Upstream resolvers for questions outside the zone, in order. */
  upstreams: string[];
  /** Project of the network: its guests see that project's names only; null (shared network): all. */
  project: string | null;
}

export interface DnsPlan {
  listeners: ListenerPlan[];
  zone: Zone;
}

export interface DnsServiceOptions {
  /** Time for the cache and rate limits, and the periodic socket check's timer. */
  clock?: Clock;
  log?: Logger;
  metrics?: DnsMetrics;
  cache?: CacheOptions;
  rateLimit?: RateLimitOptions;
  upstream?: UpstreamOptions;
  port?: number;
  checkIntervalMs?: number;
  maxTcpConnections?: number;
}

interface Listener {
  plan: ListenerPlan;
  self: Self;
  memo: ReplyMemo;
  udp: udp.Socket<"buffer"> | null;
  tcp: { stop(closeActive?: boolean): void } | null;
  opening: boolean;
  openError: string | null;
  closed: boolean;
}

export interface Answered {
  reply: Reply;
  source: "zone" | "cache" | "upstream" | "policy";
  /** How long the encoded reply may be replayed (ms): Infinity for the zone's, 0 for never. */
  keepMs?: number;
}

const emptyZone = buildZone("", [], [], 0);

export class DnsService {
  readonly #listeners = new Map<string, Listener>();
  readonly #opts: Required<DnsServiceOptions>;
  readonly #cache: DnsCache;
  readonly #limiter: SourceLimiter;
  readonly #upstreams: Upstreams;
  readonly #stopCheck: Cancel;
  #zone: Zone = emptyZone;
  readonly #counters = new Map<string, { inc(): void }>();
  readonly #admission = new Admission();

  constructor(opts: DnsServiceOptions = {}) {
    this.#opts = {
      clock: realClock,
      log: createLogger({ level: "warn", base: { component: "dns" } }),
      metrics: dnsMetrics(),
      cache: { maxEntries: 10_000, maxTtl: 86_400 },
      rateLimit: { perSecond: 500, burst: 1000, maxSources: 4096 },
      upstream: DEFAULT_UPSTREAM,
      port: 53,
      checkIntervalMs: 2000,
      maxTcpConnections: 64,
      ...opts,
    };
    const m = this.#opts.metrics;
    this.#cache = new DnsCache(this.#opts.cache);
    this.#limiter = new SourceLimiter(this.#opts.rateLimit);
    this.#upstreams = new Upstreams({
      ...this.#opts.upstream,
      onMismatch: (reason) => m.dropped.inc({ reason }),
      onLatency: (ms) => m.upstreamLatency.observe(ms / 1000),
    });
    this.#stopCheck = this.#opts.clock.every(this.#opts.checkIntervalMs, () => this.checkSockets());
  }

  setPlan(plan: DnsPlan): void {
    const changed = plan.zone.serial !== this.#zone.serial || plan.zone.domain !== this.#zone.domain;
    this.#zone = plan.zone;
    const wanted = new Map(plan.listeners.map((l) => [l.address, l]));
    for (const [address, l] of this.#listeners) {
      if (wanted.has(address)) continue;
      this.#close(l);
      this.#listeners.delete(address);
    }
    for (const p of plan.listeners) {
      const l = this.#listeners.get(p.address);
      const v6 = p.address.includes(":");
      const self = { v4: v6 ? null : p.address, v6: v6 ? p.address : null, project: p.project };
      if (l) {
        if (changed || l.plan.upstreams.join() !== p.upstreams.join() || l.plan.project !== p.project) l.memo.clear();
        Object.assign(l, { plan: p, self });
      } else {
        this.#listeners.set(p.address, {
          plan: p,
          self,
          memo: new ReplyMemo(this.#opts.cache.maxEntries),
          udp: null,
          tcp: null,
          opening: false,
          openError: null,
          closed: false,
        });
      }
    }
    this.#admission.setNetworks(new Map(plan.listeners.map((p) => [p.address, p.allowed])));
    this.checkSockets();
    this.#countListeners();
  }

  /** Opens the listeners that have no sockets yet. */
  checkSockets(): void {
    for (const l of this.#listeners.values()) if ((!l.udp || !l.tcp) && !l.opening) void this.#open(l);
  }

  /** `netlet dns query`: what a guest on that listener's network (default: the first) would get, and from where. */
  async query(name: string, type: string, address?: string): Promise<Answered & { listener: string | null }> {
    const l = (address ? this.#listeners.get(address) : [...this.#listeners.values()][0]) ?? null;
    const packet = {
      id: 0,
      flag_qr: false,
      opcode: "QUERY",
      flag_rd: true,
      questions: [{ name, type, class: "IN" }],
      additionals: [],
    } as unknown as DecodedPacket;
    const a = await this.#answer(packet, l?.plan.upstreams ?? [], l?.self ?? { v4: null, v6: null, project: null });
    return {
      ...(a ?? { reply: { rcode: "SERVFAIL", answers: [], authorities: [], aa: false }, source: "policy" }),
      listener: l?.plan.address ?? null,
    };
  }

  status(): { address: string; bridge: string; state: string; upstreams: string[] }[] {
    return [...this.#listeners.values()].map((l) => ({
      address: l.plan.address,
      bridge: l.plan.bridge,
      upstreams: l.plan.upstreams,
      state: l.udp && l.tcp ? "serving" : l.openError ? `not listening: ${l.openError}` : "opening",
    }));
  }

  get zone(): Zone {
    return this.#zone;
  }

  get cacheSize(): number {
    return this.#cache.size;
  }

  async stop(): Promise<void> {
    this.#stopCheck();
    this.#upstreams.close();
    for (const l of this.#listeners.values()) this.#close(l);
    this.#listeners.clear();
  }

  async #open(l: Listener): Promise<void> {
    l.opening = true;
    const { address } = l.plan;
    try {
      l.udp ??= await Bun.udpSocket({
        hostname: address,
        port: this.#opts.port,
        socket: { data: (s, buf, port, from) => this.#onUdp(l, s, buf, port, from) },
      });
      l.tcp ??= listenTcp(address, this.#opts.port, this.#opts.maxTcpConnections, {
        onMessage: (msg, remote) => {
          if (l.closed) return Promise.resolve(null);
          const f = this.#front(l, msg, remote, true);
          return "out" in f ? Promise.resolve(f.out) : this.#handle(l, msg, f.key, f.refuse, true);
        },
        onBusy: () => this.#opts.metrics.dropped.inc({ reason: "tcp_busy" }),
        onError: (err) => this.#internal(err),
      });
      if (l.closed) this.#close(l);
      else if (l.openError) this.#opts.log.info("DNS listening", { address, bridge: l.plan.bridge });
      l.openError = null;
    } catch (err) {
      const msg = String((err as Error).message ?? err);
      if (l.openError !== msg)
        this.#opts.log.warn("cannot listen for DNS", { address, bridge: l.plan.bridge, err: msg });
      l.openError = msg;
    } finally {
      l.opening = false;
      this.#countListeners();
    }
  }

  #countListeners(): void {
    const all = [...this.#listeners.values()];
    const serving = all.filter((x) => x.udp && x.tcp).length;
    this.#opts.metrics.listeners.set(serving, { state: "serving" });
    this.#opts.metrics.listeners.set(all.filter((x) => x.openError).length, { state: "failing" });
  }

  #close(l: Listener): void {
    l.closed = true;
    l.udp?.close();
    l.tcp?.stop(true);
    l.udp = null;
    l.tcp = null;
  }

  /**
   * Admission, rate limit and the memo, synchronously: the reply (or null for none), or the memo
   * key when the query must be answered the slow way.
   */
  #front(
    l: Listener,
    bytes: Uint8Array,
    from: string,
    tcp: boolean,
  ): { out: Uint8Array | null } | { key: number; refuse: boolean } {
    const m = this.#opts.metrics;
    const admit = this.#admission.verdict(l.plan.address, from);
    if (admit === "drop") {
      m.dropped.inc({ reason: "outsider" });
      return { out: null };
    }
    const now = this.#opts.clock.now();
    if (!this.#limiter.allow(from, now)) {
      m.dropped.inc({ reason: "rate" });
      return { out: null };
    }
    if (bytes.length < 12) return { key: -1, refuse: admit === "refuse" };
    const key = l.memo.key(bytes, tcp);
    const hit = admit === "serve" ? l.memo.get(key, bytes, now) : null;
    if (!hit) return { key, refuse: admit === "refuse" };
    if (hit.labels.source === "cache") m.cacheHits.inc();
    hit.labels.count.inc();
    // Over TCP the write may outlive this call: the memo's bytes are reused by the next hit.
    return { out: tcp ? new Uint8Array(hit.bytes) : hit.bytes };
  }

  /** The slow way: decode, decide, forward, encode; and remember the reply for the next time. */
  async #handle(
    l: Listener,
    bytes: Uint8Array,
    key: number,
    refuse: boolean,
    tcp: boolean,
  ): Promise<Uint8Array | null> {
    const m = this.#opts.metrics;
    const d = decodeMessage(bytes);
    if (!d.ok) {
      m.dropped.inc({ reason: d.error });
      return errorReply(bytes, 1);
    }
    const q = d.packet;
    const limit = tcp ? TCP_MAX : udpLimit(q);
    if (refuse) {
      m.dropped.inc({ reason: "other_network" });
      if (q.flag_qr) return null;
      return encodeReply(q, { rcode: "REFUSED", answers: [], authorities: [], aa: false }, limit);
    }
    const a = await this.#answer(q, l.plan.upstreams, l.self);
    if (!a) return null;
    const qtype = q.questions?.[0]?.type as string | undefined;
    // Metric labels stay few: a guest asking for random type numbers gets "other".
    const type = qtype === undefined ? "none" : qtype.startsWith("UNKNOWN_") ? "other" : qtype;
    this.#counter(type, a.reply.rcode, a.source).inc();
    const out = encodeReply(q, a.reply, limit);
    // Replays of a forwarded answer are cache hits.
    const source = a.source === "upstream" ? "cache" : a.source;
    const replay: MemoLabels = {
      type,
      rcode: a.reply.rcode,
      source,
      count: this.#counter(type, a.reply.rcode, source),
    };
    if (key >= 0 && a.keepMs && !l.closed) l.memo.put(key, bytes, out, replay, this.#opts.clock.now(), a.keepMs);
    return out;
  }

  async #answer(q: DecodedPacket, upstreams: string[], self: Self): Promise<Answered | null> {
    const m = this.#opts.metrics;
    const d: Decision = decide(q, this.#zone, self);
    if (d.kind === "drop") {
      m.dropped.inc({ reason: d.reason });
      return null;
    }
    if (d.kind === "reply") return { reply: d.reply, source: d.source, keepMs: Infinity };
    return this.#forward(d.question, upstreams);
  }

  async #forward(question: Question, upstreams: string[]): Promise<Answered> {
    const m = this.#opts.metrics;
    // Networks may forward to different upstreams: each set of upstreams has its own entries.
    const key = `${upstreams.join(",")}|${cacheKey(question.name, question.type)}`;
    const now = this.#opts.clock.now();
    const cached = this.#cache.get(key, now);
    if (cached) {
      m.cacheHits.inc();
      return { reply: cached, source: "cache", keepMs: this.#cache.expiresAt(key) - now };
    }
    m.cacheMisses.inc();
    const r = await this.#upstreams.resolve(question, upstreams);
    if (!r.ok) {
      m.upstreamFailures.inc({ reason: r.reason });
      return { reply: { rcode: "SERVFAIL", answers: [], authorities: [], aa: false }, source: "upstream" };
    }
    this.#cache.put(key, r.reply, this.#opts.clock.now());
    m.cacheEntries.set(this.#cache.size);
    return { reply: r.reply, source: "upstream", keepMs: cacheTtl(r.reply, this.#opts.cache.maxTtl) * 1000 };
  }

  #onUdp(l: Listener, s: udp.Socket<"buffer">, buf: Buffer, port: number, from: string): void {
    const f = this.#front(l, buf, from, false);
    if ("out" in f) {
      if (f.out) s.send(f.out, port, from);
      return;
    }
    // The slow way outlives this callback: work on a copy of the datagram.
    this.#handle(l, new Uint8Array(buf), f.key, f.refuse, false).then(
      (out) => void (out && !l.closed && s.send(out, port, from)),
      (err) => this.#internal(err),
    );
  }

  /** Bound query counters by labels; bounded by the few types, rcodes and sources there are. */
  #counter(type: string, rcode: string, source: string): { inc(): void } {
    const k = `${type}|${rcode}|${source}`;
    let c = this.#counters.get(k);
    if (!c) {
      c = this.#opts.metrics.queries.with({ type, rcode, source });
      if (this.#counters.size < 1024) this.#counters.set(k, c);
    }
    return c;
  }

  #internal(err: unknown): void {
    this.#opts.metrics.dropped.inc({ reason: "internal_error" });
    this.#opts.log.error("DNS query handling failed", { err: String(err) });
  }
}
