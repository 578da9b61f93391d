/**
 * Asking the upstream resolvers. Each question goes out with a random ID from a socket picked at
 * random from a pool of sockets on kernel-chosen random ports, each retired after a few hundred
 * questions (as unbound's outgoing-range does); a datagram is accepted only from the server's
 * address and port 53, with that ID and the same question (RFC 5452) — anything else is counted
 * and ignored while the real answer is awaited. A truncated answer is asked again over TCP.
 * Every question has one deadline across all servers, so a dead upstream costs the client a
 * quick SERVFAIL, not a multi-second hang. Identical questions in flight share one query, and
 * the number in flight is bounded.
 */
import { randomInt } from "node:crypto";
import * as dnsPacket from "dns-packet";
import type { DecodedPacket, Question } from "dns-packet";
import ipaddr from "ipaddr.js";
import type { udp } from "bun";
import type { Reply, Rcode } from "./answer.ts";
import { decodeMessage, EDNS_SIZE } from "./message.ts";

export interface UpstreamOptions {
  /** Per-server wait before the next server is tried (ms). */
  tryMs: number;
  /** Whole-question deadline (ms). */
  deadlineMs: number;
  maxInFlight: number;
  onMismatch?: (reason: string) => void;
  onLatency?: (ms: number, server: string) => void;
  /** Upstream port (53; tests use another). */
  port?: number;
}

export const DEFAULT_UPSTREAM: UpstreamOptions = { tryMs: 800, deadlineMs: 1500, maxInFlight: 1024 };

export type UpstreamResult = { ok: true; reply: Reply } | { ok: false; reason: "timeout" | "busy" | "no_upstream" };

const RCODES = new Set<Rcode>(["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"]);

function sameQuestion(p: DecodedPacket, q: Question): boolean {
  const a = p.questions?.[0];
  return (
    p.questions?.length === 1 &&
    !!a &&
    a.type === q.type &&
    (a.class ?? "IN") === (q.class ?? "IN") &&
    a.name.toLowerCase().replace(/\.$/, "") === q.name.toLowerCase().replace(/\.$/, "")
  );
}

function toReply(p: DecodedPacket): Reply {
  const rcode = (p as unknown as { rcode: string }).rcode as Rcode;
  return {
    rcode: RCODES.has(rcode) ? rcode : "SERVFAIL",
    answers: (p.answers ?? []).filter((a) => a.type !== "OPT"),
    authorities: (p.authorities ?? []).filter((a) => a.type !== "OPT"),
    aa: false,
  };
}

function queryBytes(q: Question, id: number): Buffer {
  return dnsPacket.encode({
    type: "query",
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [q],
    additionals: [{ type: "OPT", name: ".", udpPayloadSize: EDNS_SIZE, flags: 0 } as dnsPacket.Answer],
  });
}

/** Sockets in the pool per address family, and questions each asks before it is replaced. */
const POOL_SIZE = 32;
const RETIRE_AFTER = 256;

interface PooledSocket {
  sock: udp.Socket<"buffer">;
  opening: Promise<udp.Socket<"buffer">>;
  /** Questions in flight by ID. */
  waiting: Map<number, { server: string; q: Question; finish: (p: DecodedPacket | null) => void }>;
  uses: number;
  retired: boolean;
}

export class Upstreams {
  readonly #inflight = new Map<string, Promise<UpstreamResult>>();
  readonly #pool4: (PooledSocket | undefined)[] = [];
  readonly #pool6: (PooledSocket | undefined)[] = [];

  constructor(readonly opts: UpstreamOptions = DEFAULT_UPSTREAM) {}

  get #port(): number {
    return this.opts.port ?? 53;
  }

  get inFlight(): number {
    return this.#inflight.size;
  }

  resolve(q: Question, servers: readonly string[]): Promise<UpstreamResult> {
    if (servers.length === 0) return Promise.resolve({ ok: false, reason: "no_upstream" });
    const key = `${q.name.toLowerCase()}|${q.type}|${servers.join(",")}`;
    const shared = this.#inflight.get(key);
    if (shared) return shared;
    if (this.#inflight.size >= this.opts.maxInFlight) return Promise.resolve({ ok: false, reason: "busy" });
    const p = this.#ask(q, servers).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }

  async #ask(q: Question, servers: readonly string[]): Promise<UpstreamResult> {
    const deadline = performance.now() + this.opts.deadlineMs;
    for (const server of servers) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      const t0 = performance.now();
      const wait = Math.min(left, this.opts.tryMs);
      let p = await this.#udp(q, server, wait).catch(() => null);
      if (p?.flag_tc) p = await this.#tcp(q, server, Math.max(deadline - performance.now(), 100)).catch(() => null);
      if (!p) continue;
      this.opts.onLatency?.(performance.now() - t0, server);
      const reply = toReply(p);
      // A server that failed or refused: the next one may know better.
      if ((reply.rcode === "SERVFAIL" || reply.rcode === "REFUSED") && server !== servers[servers.length - 1]) continue;
      return { ok: true, reply };
    }
    return { ok: false, reason: "timeout" };
  }

  async #udp(q: Question, server: string, waitMs: number): Promise<DecodedPacket | null> {
    const want = ipaddr.process(server).toString();
    const ps = await this.#socket(ipaddr.parse(server).kind() === "ipv6");
    let id = randomInt(0, 65536);
    while (ps.waiting.has(id)) id = randomInt(0, 65536);
    return new Promise<DecodedPacket | null>((resolve) => {
      const timer = setTimeout(() => finish(null), waitMs);
      const finish = (p: DecodedPacket | null) => {
        clearTimeout(timer);
        ps.waiting.delete(id);
        if (ps.retired && ps.waiting.size === 0) ps.sock.close();
        resolve(p);
      };
      ps.waiting.set(id, { server: want, q, finish });
      ps.sock.send(queryBytes(q, id), this.#port, server);
    });
  }

  /** A socket of the pool, opened when the pool is not full yet; retired after RETIRE_AFTER uses. */
  async #socket(v6: boolean): Promise<PooledSocket> {
    const pool = v6 ? this.#pool6 : this.#pool4;
    const i = randomInt(0, POOL_SIZE);
    let ps = pool[i];
    if (!ps) {
      const opening: Promise<udp.Socket<"buffer">> = Bun.udpSocket({
        hostname: v6 ? "::" : "0.0.0.0",
        socket: { data: (_s, buf, port, addr) => this.#receive(entry, buf, port, addr) },
      });
      // Until it is open, questions drawing this slot wait for the same socket.
      const entry: PooledSocket = {
        sock: null as unknown as udp.Socket<"buffer">,
        waiting: new Map(),
        uses: 0,
        retired: false,
        opening,
      };
      pool[i] = ps = entry;
      try {
        entry.sock = await opening;
      } catch (err) {
        if (pool[i] === entry) pool[i] = undefined;
        throw err;
      }
    } else if (!ps.sock) {
      await ps.opening;
    }
    if (++ps.uses >= RETIRE_AFTER) {
      ps.retired = true;
      pool[i] = undefined;
    }
    return ps;
  }

  #receive(ps: PooledSocket, buf: Buffer, port: number, addr: string): void {
    const d = decodeMessage(buf);
    if (!d.ok || !d.packet.flag_qr) return this.opts.onMismatch?.("upstream_malformed");
    const w = ps.waiting.get(d.packet.id ?? -1);
    if (!w) return this.opts.onMismatch?.("upstream_id");
    let from = addr;
    try {
      from = ipaddr.process(addr).toString();
    } catch {
      // left as is: it will not match
    }
    if (from !== w.server || port !== this.#port) return this.opts.onMismatch?.("upstream_source");
    if (!sameQuestion(d.packet, w.q)) return this.opts.onMismatch?.("upstream_question");
    w.finish(d.packet);
  }

  /** Closes the pool (sockets with questions in flight close when those end). */
  close(): void {
    for (const pool of [this.#pool4, this.#pool6]) {
      for (let i = 0; i < pool.length; i++) {
        const ps = pool[i];
        if (!ps) continue;
        ps.retired = true;
        if (ps.waiting.size === 0) void ps.opening.then((s) => s.close());
        pool[i] = undefined;
      }
    }
  }

  /** One question over TCP (two-byte length framing, RFC 7766). */
  async #tcp(q: Question, server: string, waitMs: number): Promise<DecodedPacket | null> {
    const id = randomInt(0, 65536);
    let done: (p: DecodedPacket | null) => void = () => {};
    const result = new Promise<DecodedPacket | null>((r) => (done = r));
    let buf = new Uint8Array(0);
    const timer = setTimeout(() => done(null), waitMs);
    const sock = await Bun.connect({
      hostname: server,
      port: this.#port,
      socket: {
        data(_s, chunk) {
          const next = new Uint8Array(buf.length + chunk.length);
          next.set(buf);
          next.set(chunk, buf.length);
          buf = next;
          if (buf.length > 2 + 65535) return done(null);
          if (buf.length < 2) return;
          const len = (buf[0] << 8) | buf[1];
          if (buf.length < 2 + len) return;
          const d = decodeMessage(buf.subarray(2, 2 + len));
          done(d.ok && d.packet.flag_qr && d.packet.id === id && sameQuestion(d.packet, q) ? d.packet : null);
        },
        close: () => done(null),
        error: () => done(null),
        connectError: () => done(null),
      },
    }).catch(() => null);
    try {
      if (!sock) return null;
      const bytes = queryBytes(q, id);
      const framed = new Uint8Array(bytes.length + 2);
      framed[0] = bytes.length >> 8;
      framed[1] = bytes.length & 0xff;
      framed.set(bytes, 2);
      sock.write(framed);
      return await result;
    } finally {
      clearTimeout(timer);
      sock?.end();
    }
  }
}
