/**
 * Repair rounds: every `digestIntervalMs` a node sends one random peer a 4-byte digest of its
 * per-origin marks; a mismatch narrows to buckets, then to origins (marks messages), and the
 * side that is ahead serves the missing rows (`page-server.ts`). While differences keep
 * showing (a write burst), rounds come every `busyDigestIntervalMs` and carry the marks at
 * once: one round trip, not three, which under heavy loss is the one that completes.
 */
import { type HlcClock, encodeHlc } from "../../replication/hlc.ts";
import type { SyncConfig, SyncStats } from "./config.ts";
import { MarkHasher, bucketOf, fnv1a } from "./digest.ts";
import type { MarkBook, MarkEntry } from "./marks.ts";
import { type MarksMsg, cmpPos, posOf, sendMarks } from "./marks-packets.ts";
import type { PageServer, Want } from "./page-server.ts";
import type { StreamClaims } from "./stream-claims.ts";
import type { SyncTransport } from "./transport.ts";

export interface ExchangeDeps {
  config: SyncConfig;
  self: string;
  clock: HlcClock;
  t: SyncTransport;
  stats: SyncStats;
  book: MarkBook;
  claims: StreamClaims;
  pages: PageServer;
  /** A peer's digest equalled ours. */
  onMatch: () => void;
}

export class DigestExchange {
  readonly #d: ExchangeDeps;
  readonly #config: SyncConfig;
  readonly #hasher: MarkHasher;
  /** When the next digest round is due. */
  #nextAt: number;
  /** When a digest last showed a difference with a peer (either side of the exchange). */
  #differedAt = -Infinity;
  /** Next bucket whose marks a busy digest round sends. */
  #rotor = 0;
  /** A peer's digest equalled ours at least once: we held what it held (up to its cutoff). */
  matched = false;

  constructor(d: ExchangeDeps, now: number) {
    this.#d = d;
    this.#config = d.config;
    this.#hasher = new MarkHasher(d.config.buckets);
    // Nodes started together must not send their digests in lockstep: a per-node phase.
    this.#nextAt = now + d.config.busyDigestIntervalMs + (fnv1a(d.self) % d.config.busyDigestIntervalMs);
  }

  get nextAt(): number {
    return this.#nextAt;
  }

  /** A digest round when one is due: busy (marks at once) while differences keep showing. */
  tick(now: number): void {
    if (now < this.#nextAt) return;
    const busy = now - this.#differedAt < 2 * this.#config.digestIntervalMs;
    this.#nextAt = now + (busy ? this.#config.busyDigestIntervalMs : this.#config.digestIntervalMs);
    this.#d.claims.expire(now);
    const [peer] = this.#d.t.pickLive(1);
    const addr = peer && this.#d.t.addressOf(peer);
    if (addr) this.#sendDigest(busy, addr, now);
  }

  /**
   * A digest round with one member now: one that came back from the dead (a healed partition)
   * holds what its side wrote meanwhile, and a random pick would rarely land across the gap.
   */
  sendTo(peer: string, now: number): void {
    const addr = this.#d.t.addressOf(peer);
    if (addr) this.#sendDigest(false, addr, now);
  }

  #cutoff(): number {
    return Math.floor((this.#d.clock.now() - this.#config.settleMs) / 100) * 100;
  }

  #hashes(cutoffMs: number): number[] {
    return this.#hasher.hash(this.#d.book.marks, encodeHlc({ ms: Math.max(0, cutoffMs), counter: 0 }));
  }

  /**
   * Idle: a 4-byte digest, narrowed to buckets and marks only on a mismatch. Busy (a recent
   * difference): our marks for a rotating set of buckets at once, so the peer serves what we
   * lack in one round trip instead of three; under heavy loss a long exchange rarely completes.
   */
  #sendDigest(busy: boolean, addr: string, now: number): void {
    this.#d.stats.digests++;
    if (busy) return this.#sendDirectMarks(addr, now);
    const c = this.#cutoff();
    // Until a first match, ask the peer to answer a match with its own digest: a new host
    // learns it has caught up in one round trip instead of waiting for someone's digest.
    this.#d.t.sendUser(addr, {
      s: "g",
      c,
      h: this.#hashes(c)[this.#config.buckets],
      ...(this.matched ? {} : { q: 1 }),
    });
  }

  #sendDirectMarks(addr: string, now: number): void {
    const { buckets, directMarksBytes } = this.#config;
    const byBucket = new Map<number, string[]>();
    for (const o of this.#d.book.marks.keys()) {
      if (!this.#d.book.get(o)) continue;
      const b = bucketOf(o, buckets);
      const list = byBucket.get(b);
      if (list) list.push(o);
      else byBucket.set(b, [o]);
    }
    const bk: number[] = [];
    let bytes = 0;
    for (let i = 0; i < buckets && (bk.length === 0 || bytes < directMarksBytes); i++) {
      const b = (this.#rotor + i) % buckets;
      bk.push(b);
      for (const o of byBucket.get(b) ?? []) bytes += o.length + 16;
    }
    this.#rotor = (this.#rotor + bk.length) % buckets;
    this.#sendBucketMarks(
      addr,
      bk.sort((a, b) => a - b),
      now,
    );
  }

  onDigest(m: { c: number; h: number; q?: 1 }, addr: string, now: number): void {
    const h = this.#hashes(m.c);
    if (h[this.#config.buckets] === m.h) {
      this.matched = true;
      this.#d.onMatch();
      if (m.q === 1) this.#d.t.sendUser(addr, { s: "g", c: m.c, h: m.h });
      return;
    }
    this.#d.stats.mismatches++;
    this.#differedAt = now;
    this.#d.t.sendUser(addr, { s: "b", c: m.c, h: h.slice(0, this.#config.buckets) });
  }

  onBuckets(m: { c: number; h: number[] }, addr: string, now: number): void {
    if (m.h.length !== this.#config.buckets) return;
    const mine = this.#hashes(m.c);
    const bk = m.h.flatMap((h, i) => (h === mine[i] ? [] : [i]));
    if (bk.length === 0) return;
    this.#differedAt = now;
    this.#sendBucketMarks(addr, bk, now);
  }

  /** Our marks for whole buckets `bk`, asking for the peer's in return. */
  #sendBucketMarks(addr: string, bk: number[], now: number): void {
    const { book, claims } = this.#d;
    const set = new Set(bk);
    const pos = (o: string) => posOf(o, this.#config.buckets);
    const w = [...book.marks.keys()]
      .filter((o) => book.get(o) && set.has(bucketOf(o, this.#config.buckets)))
      .sort((a, b) => cmpPos(pos(a), pos(b)))
      .map((o) => book.entry(o));
    // The peer serves whatever of these it is ahead on, except what we already stream elsewhere.
    sendMarks(this.#d.t, addr, { s: "w", bk, w: [], q: 1 }, w, this.#config, (o) => !claims.claim(o, addr, now));
  }

  /** Serve what the peer lacks, oldest gap first; ask for what we lack (when `q` = 1). */
  onMarks(m: MarksMsg, addr: string, now: number): void {
    const theirs = new Map(m.w.map((e) => [e[0], e] as const));
    const skip = new Set((m.sk ?? []).map((i) => m.w[i]?.[0]));
    const serve: Want[] = [];
    const want: MarkEntry[] = [];
    for (const o of this.#covered(m, theirs.keys())) {
      const mine = this.#d.book.get(o);
      const e = theirs.get(o);
      const their = e?.[1] ?? "";
      if (mine > their) {
        if (!skip.has(o)) serve.push({ o, after: their, mine, held: new Set(e?.length === 3 ? e[2] : []) });
      } else if (their > mine && m.q === 1 && this.#d.claims.claim(o, addr, now)) want.push(this.#d.book.entry(o));
    }
    if (serve.length || want.length) this.#differedAt = now;
    serve.sort((a, b) => (a.after < b.after ? -1 : a.after > b.after ? 1 : 0));
    this.#d.pages.serve(serve.slice(0, this.#config.originsPerRequest), addr, m.c !== 1, now);
    if (want.length) sendMarks(this.#d.t, addr, { s: "w", bk: [], w: [], q: 0 }, want, this.#config);
  }

  /** The origins a marks message speaks of: those listed, and ours in the range it covers. */
  #covered(m: MarksMsg, listed: Iterable<string>): Set<string> {
    const origins = new Set(listed);
    if (!m.bk.length) return origins;
    const set = new Set(m.bk);
    for (const o of this.#d.book.marks.keys()) {
      const p = posOf(o, this.#config.buckets);
      if (set.has(p[0]) && (!m.lo || cmpPos(p, m.lo) >= 0) && (!m.hi || cmpPos(p, m.hi) < 0)) origins.add(o);
    }
    return origins;
  }
}
