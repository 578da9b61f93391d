/**
 * The forwarder's cache: bounded (least recently used entries go first), keyed by question only
 * — so records an upstream adds about other names can never poison them — and honouring TTLs:
 * an answer lives for its smallest TTL, NXDOMAIN and NODATA for min(SOA TTL, SOA minimum)
 * (RFC 2308), and comes back with its TTLs counted down. Time is passed in.
 */
import type { Answer } from "dns-packet";
import type { Reply } from "./answer.ts";

export interface CacheOptions {
  maxEntries: number;
  /** Upper bound on any TTL kept (s); a huge TTL from an upstream is cut to this. */
  maxTtl: number;
}

interface Entry {
  reply: Reply;
  storedAt: number;
  expiresAt: number;
}

export const cacheKey = (name: string, type: string) => `${name.toLowerCase().replace(/\.$/, "")}|${type}`;

const ttlOf = (a: Answer) => (a as { ttl?: number }).ttl ?? 0;

/** Seconds this reply may be cached; 0 = not at all. */
export function cacheTtl(r: Reply, maxTtl: number): number {
  if (r.rcode === "NOERROR" && r.answers.length > 0) return Math.min(maxTtl, ...r.answers.map(ttlOf));
  if (r.rcode !== "NXDOMAIN" && r.rcode !== "NOERROR") return 0;
  const soa = r.authorities.find((a) => a.type === "SOA") as { ttl?: number; data?: { minimum?: number } } | undefined;
  if (!soa) return 0;
  return Math.min(maxTtl, soa.ttl ?? 0, soa.data?.minimum ?? 0);
}

export class DnsCache {
  readonly #entries = new Map<string, Entry>();
  hits = 0;
  misses = 0;

  constructor(readonly opts: CacheOptions) {}

  get size(): number {
    return this.#entries.size;
  }

  /** When the entry for `key` expires (ms), or 0. */
  expiresAt(key: string): number {
    return this.#entries.get(key)?.expiresAt ?? 0;
  }

  get(key: string, now: number): Reply | null {
    const e = this.#entries.get(key);
    if (!e || e.expiresAt <= now) {
      if (e) this.#entries.delete(key);
      this.misses++;
      return null;
    }
    this.hits++;
    // Re-insert: Map order is the LRU order.
    this.#entries.delete(key);
    this.#entries.set(key, e);
    const age = Math.floor((now - e.storedAt) / 1000);
    const down = (list: Answer[]) =>
      age === 0 ? list : list.map((a) => ({ ...a, ttl: Math.max(0, ttlOf(a) - age) }) as Answer);
    return { ...e.reply, answers: down(e.reply.answers), authorities: down(e.reply.authorities) };
  }

  put(key: string, reply: Reply, now: number): void {
    const ttl = cacheTtl(reply, this.opts.maxTtl);
    if (ttl <= 0) return;
    this.#entries.delete(key);
    while (this.#entries.size >= this.opts.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    const cap = (list: Answer[]) =>
      list.map((a) => (ttlOf(a) > this.opts.maxTtl ? ({ ...a, ttl: this.opts.maxTtl } as Answer) : a));
    this.#entries.set(key, {
      reply: { ...reply, answers: cap(reply.answers), authorities: cap(reply.authorities) },
      storedAt: now,
      expiresAt: now + ttl * 1000,
    });
  }

  clear(): void {
    this.#entries.clear();
  }
}
