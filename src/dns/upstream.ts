/**
 * Asking the upstream resolvers. Each question goes out from a fresh socket (a random source
 * port chosen by the kernel) with a random ID; a datagram is accepted only from the server's
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
}

export const DEFAULT_UPSTREAM: UpstreamOptions = { tryMs: 800, deadlineMs: 1500, maxInFlight: 1024 };

export type UpstreamResult = { ok: true; reply: Reply } | { ok: false; reason: "timeout" | "busy" | "no_upstream" };

const RCODES = new Set<Rcode>(["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"]);

function sameQuestion(p: DecodedPacket, q: Question): boolean {
  const a = p.questions?.[0];
  return p.questions?.length === 1 && !!a && a.type === q.type && (a.class ?? "IN") === (q.class ?? "IN") &&
    a.name.toLowerCase().replace(/\.$/, "") === q.name.toLowerCase().replace(/\.$/, "");
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
  return dnsPacket.encode({ type: "query", id, flags: dnsPacket.RECURSION_DESIRED, questions: [q],
    additionals: [{ type: "OPT", name: ".", udpPayloadSize: EDNS_SIZE, flags: 0 } as dnsPacket.Answer] });
}

export class Upstreams {
  readonly #inflight = new Map<string, Promise<UpstreamResult>>();

  constructor(readonly opts: UpstreamOptions = DEFAULT_UPSTREAM) {}

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
    const id = randomInt(0, 65536);
    const want = ipaddr.process(server).toString();
    let done: (p: DecodedPacket | null) => void = () => {};
    const result = new Promise<DecodedPacket | null>((r) => (done = r));
    const sock = await Bun.udpSocket({
      hostname: ipaddr.parse(server).kind() === "ipv6" ? "::" : "0.0.0.0",
      socket: {
        data: (_s, buf, port, addr) => {
          let from = addr;
          try {
            from = ipaddr.process(addr).toString();
          } catch {
            // leave as is: it will not match
          }
          if (from !== want || port !== 53) return this.opts.onMismatch?.("upstream_source");
          const d = decodeMessage(buf);
          if (!d.ok || !d.packet.flag_qr) return this.opts.onMismatch?.("upstream_malformed");
          if (d.packet.id !== id) return this.opts.onMismatch?.("upstream_id");
          if (!sameQuestion(d.packet, q)) return this.opts.onMismatch?.("upstream_question");
          done(d.packet);
        },
      },
    });
    const timer = setTimeout(() => done(null), waitMs);
    try {
      sock.send(queryBytes(q, id), 53, server);
      return await result;
    } finally {
      clearTimeout(timer);
      sock.close();
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
      port: 53,
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
