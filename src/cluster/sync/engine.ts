/**
 * Sans-IO state sync. Three paths, from fast to thorough:
 *  1. deltas ride on gossip (each receiver re-gossips rows that were new to it);
 *  2. every `digestIntervalMs` a node sends one random peer a 4-byte digest of its per-origin
 *     progress marks; a mismatch narrows to buckets, then to origins, and the side that is
 *     ahead streams the missing rows in pages (this closes the tail that gossip leaves);
 *  3. the same paged pull, continued page after page, is the full-state stream of a joining
 *     node; it resumes from the persisted marks with any peer after an interruption.
 * A mark says "I hold every write of this origin up to here (or something newer)". It advances
 * on a delta whose `prev` equals it, or on a page that starts at or below it.
 */
import { type HlcClock, encodeHlc } from "../../store/hlc.ts";
import { MarkHasher, bucketOf } from "./digest.ts";
import { type SyncMsg, parseSyncMsg } from "./messages.ts";
import { HOST_TABLES, type ReplicaRow, type ReplicaStore } from "./replica-store.ts";
import { validateRow } from "./schema.ts";

export interface SyncTransport {
  broadcast(key: string, data: unknown): void;
  sendUser(addr: string, data: unknown): boolean;
  pickLive(k: number): string[];
  addressOf(id: string): string | undefined;
}

export interface SyncConfig {
  digestIntervalMs: number;
  /** Differences younger than this are left to gossip. */
  settleMs: number;
  buckets: number;
  /** Bytes of rows per page packet (kept under the membership packet limit). */
  pageBytes: number;
  /** Origins served per request; the rest wait for the next digest round. */
  originsPerRequest: number;
  /**
   * Repair pages served per second (token bucket, burst = originsPerRequest). Bounds the
   * bandwidth of digest-driven repair under heavy write load; the page-after-page stream a
   * joining node asks for is not limited here (it is paced by its own round trips).
   */
  repairPagesPerSec: number;
  tombstoneGraceMs: number;
  gcIntervalMs: number;
  /** Out-of-order delta links kept while waiting for a gap to fill. */
  maxPending: number;
  marksSaveIntervalMs: number;
  /**
   * The state directory is new (wiped or rebuilt host): rows of our own origin that peers hold
   * must be pulled back. Our own mark then starts empty and local writes do not advance it
   * until a peer has streamed our origin to us, so digests see that we lack it.
   */
  recoverOwnRows: boolean;
}

export const DEFAULT_SYNC_CONFIG: SyncConfig = {
  digestIntervalMs: 1000,
  settleMs: 1000,
  buckets: 16,
  pageBytes: 1000,
  originsPerRequest: 64,
  repairPagesPerSec: 16,
  tombstoneGraceMs: 24 * 3600_000,
  gcIntervalMs: 60_000,
  maxPending: 4096,
  marksSaveIntervalMs: 1000,
  recoverOwnRows: false,
};

export interface SyncStats {
  applied: number;
  stale: number;
  quarantined: number;
  future: number;
  oversize: number;
  resets: number;
  digests: number;
  mismatches: number;
  pagesSent: number;
  /** Rows received in repair pages, and how many of those we already held. */
  pageRows: number;
  pageStale: number;
  malformed: number;
}

export interface Quarantined {
  reason: string;
  from: string;
  row: unknown;
}

export interface SyncOptions {
  self: string;
  store: ReplicaStore;
  clock: HlcClock;
  transport: SyncTransport;
  now: number;
  config?: Partial<SyncConfig>;
}

export class SyncEngine {
  readonly config: SyncConfig;
  readonly stats: SyncStats = { applied: 0, stale: 0, quarantined: 0, future: 0, oversize: 0, resets: 0, digests: 0, mismatches: 0, pagesSent: 0, pageRows: 0, pageStale: 0, malformed: 0 };
  /** The most recent rejected rows (bounded), for `netlet` diagnostics. */
  readonly quarantine: Quarantined[] = [];
  readonly #self: string;
  readonly #store: ReplicaStore;
  readonly #clock: HlcClock;
  readonly #t: SyncTransport;
  readonly #marks = new Map<string, string>();
  readonly #pending = new Map<string, Map<string, string>>();
  #pendingCount = 0;
  readonly #hasher: MarkHasher;
  #gcHorizon: string;
  #nextDigestAt: number;
  #nextGcAt: number;
  #nextSaveAt: number;
  #dirty = false;
  /** Our own origin is still being pulled back from peers (see `recoverOwnRows`). */
  #recovering = false;
  /** Recovery gives up after this time (no peer held anything of ours: a brand-new host). */
  #recoverUntil = 0;
  #tokens: number;
  #tokensAt: number;
  #now: number;

  constructor(o: SyncOptions) {
    this.config = { ...DEFAULT_SYNC_CONFIG, ...o.config };
    this.#self = o.self;
    this.#store = o.store;
    this.#clock = o.clock;
    this.#t = o.transport;
    this.#hasher = new MarkHasher(this.config.buckets);
    for (const [k, m] of Object.entries(o.store.loadMarks())) this.#marks.set(k, m);
    const own = o.store.heads().get(o.self);
    this.#recovering = this.config.recoverOwnRows;
    this.#recoverUntil = o.now + 30_000;
    if (this.#recovering) this.#marks.delete(o.self);
    else if (own && own > (this.#marks.get(o.self) ?? "")) this.#marks.set(o.self, own);
    // Conservative until our first collection: anyone further behind than the grace is reset.
    this.#gcHorizon = this.#hlcAgo(this.config.tombstoneGraceMs);
    this.#nextDigestAt = o.now + this.config.digestIntervalMs;
    this.#nextGcAt = o.now + this.config.gcIntervalMs;
    this.#nextSaveAt = o.now + this.config.marksSaveIntervalMs;
    this.#tokens = this.config.originsPerRequest;
    this.#tokensAt = o.now;
    this.#now = o.now;
  }

  mark(origin: string): string {
    return this.#marks.get(origin) ?? "";
  }

  /** Announce a local write that is already committed to the store. */
  publish(row: ReplicaRow): void {
    const prev = this.mark(this.#self);
    if (row.hlc > prev && !this.#recovering) this.#setMark(this.#self, row.hlc);
    this.#t.broadcast(`${row.table}/${row.key}`, { s: "d", r: row, p: prev });
  }

  nextDeadline(): number {
    return Math.min(this.#nextDigestAt, this.#nextGcAt, this.#nextSaveAt);
  }

  tick(now: number): void {
    this.#now = now;
    if (this.#recovering && now >= this.#recoverUntil) this.#endRecovery();
    if (now >= this.#nextDigestAt) {
      this.#nextDigestAt = now + this.config.digestIntervalMs;
      this.#sendDigest();
    }
    if (now >= this.#nextGcAt) {
      this.#nextGcAt = now + this.config.gcIntervalMs;
      const horizon = this.#hlcAgo(this.config.tombstoneGraceMs);
      this.#store.collectTombstones(horizon);
      this.#gcHorizon = horizon;
    }
    if (now >= this.#nextSaveAt) {
      this.#nextSaveAt = now + this.config.marksSaveIntervalMs;
      if (this.#dirty) this.#store.saveMarks(Object.fromEntries(this.#marks));
      this.#dirty = false;
    }
  }

  /** Handle one payload from a peer. Never throws; malformed payloads are counted. */
  handle(from: string, addr: string, data: unknown, now = this.#now): void {
    this.#now = now;
    const m = parseSyncMsg(data);
    if (!m) {
      this.stats.malformed++;
      return;
    }
    switch (m.s) {
      case "d":
        return this.#onDelta(m, from, data);
      case "g":
        return this.#onDigest(m, addr);
      case "b":
        return this.#onBuckets(m, addr);
      case "w":
        return this.#onMarks(m, addr);
      case "r":
        return this.#onRows(m, from, addr);
      case "x":
        this.stats.resets++;
        this.#store.dropOrigin(m.o);
        this.#marks.delete(m.o);
        this.#t.sendUser(addr, { s: "w", bk: [], w: [[m.o, ""]], q: 0 });
        return;
    }
  }

  // ---- deltas --------------------------------------------------------------------------

  #onDelta(m: Extract<SyncMsg, { s: "d" }>, from: string, raw: unknown): void {
    const r = this.#ingest(m.r, from);
    if (r === "invalid" || r === "future") return;
    const row = m.r as ReplicaRow;
    this.#advance(row.origin, m.p, row.hlc);
    if (r === "applied") this.#t.broadcast(`${row.table}/${row.key}`, raw);
  }

  /** Chain the mark forward through `prev → hlc` links, buffering links that arrive early. */
  #advance(origin: string, prev: string, hlc: string): void {
    let mark = this.mark(origin);
    if (hlc <= mark) return;
    if (prev > mark) {
      let links = this.#pending.get(origin);
      if (!links) this.#pending.set(origin, (links = new Map()));
      if (this.#pendingCount >= this.config.maxPending) {
        this.#pending.clear();
        this.#pendingCount = 0;
        return;
      }
      if (!links.has(prev)) this.#pendingCount++;
      links.set(prev, hlc);
      return;
    }
    mark = hlc;
    const links = this.#pending.get(origin);
    while (links?.has(mark)) {
      const next = links.get(mark)!;
      links.delete(mark);
      this.#pendingCount--;
      mark = next > mark ? next : mark;
    }
    this.#setMark(origin, mark);
  }

  /** Validate and apply one remote row. */
  #ingest(raw: unknown, from: string): "applied" | "stale" | "invalid" | "future" {
    const v = validateRow(raw);
    if (!v.ok) return this.#reject(v.reason, from, raw);
    const row = v.row;
    if (!this.#clock.observe(row.hlc)) {
      this.stats.future++;
      return "future";
    }
    const cur = this.#store.get(row.table, row.key);
    // Single-writer rows without an owner field (leases) stay with their first writer.
    if (cur && !cur.deleted && !row.deleted && cur.origin !== row.origin && (HOST_TABLES as readonly string[]).includes(row.table)) {
      return this.#reject(`${row.table} ${row.key} owned by ${cur.origin}`, from, raw);
    }
    if (this.#store.apply(row)) {
      this.stats.applied++;
      return "applied";
    }
    this.stats.stale++;
    return "stale";
  }

  #reject(reason: string, from: string, row: unknown): "invalid" {
    this.stats.quarantined++;
    this.quarantine.push({ reason, from, row });
    if (this.quarantine.length > 64) this.quarantine.shift();
    return "invalid";
  }

  // ---- digests -------------------------------------------------------------------------

  #cutoff(): number {
    return Math.floor((this.#clock.now() - this.config.settleMs) / 1000) * 1000;
  }

  #hashes(cutoffMs: number): number[] {
    return this.#hasher.hash(this.#marks, encodeHlc({ ms: Math.max(0, cutoffMs), counter: 0 }));
  }

  #sendDigest(): void {
    const [peer] = this.#t.pickLive(1);
    const addr = peer && this.#t.addressOf(peer);
    if (!addr) return;
    const c = this.#cutoff();
    this.stats.digests++;
    this.#t.sendUser(addr, { s: "g", c, h: this.#hashes(c)[this.config.buckets] });
  }

  #onDigest(m: { c: number; h: number }, addr: string): void {
    const h = this.#hashes(m.c);
    if (h[this.config.buckets] === m.h) return;
    this.stats.mismatches++;
    this.#t.sendUser(addr, { s: "b", c: m.c, h: h.slice(0, this.config.buckets) });
  }

  #onBuckets(m: { c: number; h: number[] }, addr: string): void {
    if (m.h.length !== this.config.buckets) return;
    const mine = this.#hashes(m.c);
    const bk = m.h.flatMap((h, i) => (h === mine[i] ? [] : [i]));
    if (bk.length === 0) return;
    const set = new Set(bk);
    const w = [...this.#marks].filter(([o, mk]) => mk && set.has(bucketOf(o, this.config.buckets)));
    for (const chunk of chunks(w, 24)) this.#t.sendUser(addr, { s: "w", bk, w: chunk, q: 1 });
    if (w.length === 0) this.#t.sendUser(addr, { s: "w", bk, w: [], q: 1 });
  }

  /** Serve what the peer lacks; ask for what we lack (when `q` = 1). */
  #onMarks(m: Extract<SyncMsg, { s: "w" }>, addr: string): void {
    const theirs = new Map(m.w);
    const origins = new Set(theirs.keys());
    if (m.bk.length) {
      const set = new Set(m.bk);
      for (const o of this.#marks.keys()) if (set.has(bucketOf(o, this.config.buckets))) origins.add(o);
    }
    const want: [string, string][] = [];
    let served = 0;
    for (const o of origins) {
      const mine = this.mark(o);
      const their = theirs.get(o) ?? "";
      if (mine > their && served < this.config.originsPerRequest && (m.c === 1 || this.#take())) {
        served++;
        this.#serve(o, their, mine, addr);
      } else if (their > mine && m.q === 1) want.push([o, mine]);
    }
    for (const chunk of chunks(want, 24)) this.#t.sendUser(addr, { s: "w", bk: [], w: chunk, q: 0 });
  }

  #take(): boolean {
    const rate = this.config.repairPagesPerSec / 1000;
    this.#tokens = Math.min(this.config.originsPerRequest, this.#tokens + (this.#now - this.#tokensAt) * rate);
    this.#tokensAt = this.#now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** One page of origin `o` after `after`, at most `pageBytes` of rows. */
  #serve(o: string, after: string, mine: string, addr: string): void {
    if (after !== "" && after < this.#gcHorizon) {
      this.#t.sendUser(addr, { s: "x", o });
      return;
    }
    const rows: ReplicaRow[] = [];
    let bytes = 0;
    let more = 0;
    for (const r of this.#store.changedSince(o, after, 64)) {
      const size = JSON.stringify(r).length + 1;
      if (size > this.config.pageBytes) {
        // Too large for one datagram; counted, and skipped rather than wedging the stream.
        this.stats.oversize++;
        continue;
      }
      if (bytes + size > this.config.pageBytes) {
        more = 1;
        break;
      }
      bytes += size;
      rows.push(r);
    }
    if (rows.length === 64) more = 1;
    const last = rows.length ? rows[rows.length - 1].hlc : after;
    const upTo = more ? (last < mine ? last : mine) : mine;
    this.stats.pagesSent++;
    this.#t.sendUser(addr, { s: "r", o, f: after, u: upTo, m: more, rows });
  }

  #onRows(m: Extract<SyncMsg, { s: "r" }>, from: string, addr: string): void {
    let future = false;
    for (const raw of m.rows) {
      const r = this.#ingest(raw, from);
      future ||= r === "future";
      this.stats.pageRows++;
      if (r === "stale") this.stats.pageStale++;
    }
    const mark = this.mark(m.o);
    // A refused future row is retried later, so the mark must not move past it.
    if (mark < m.f || future) return;
    if (m.u > mark) this.#setMark(m.o, m.u);
    if (m.o === this.#self && m.m === 0) this.#endRecovery();
    // Keep streaming this origin from the same peer (a joining node's full-state transfer).
    if (m.m === 1) this.#t.sendUser(addr, { s: "w", bk: [], w: [[m.o, this.mark(m.o)]], q: 0, c: 1 });
  }

  #endRecovery(): void {
    if (!this.#recovering) return;
    this.#recovering = false;
    // Everything we wrote since start is ours too: the mark is our newest own row.
    const own = this.#store.heads().get(this.#self);
    if (own && own > this.mark(this.#self)) this.#setMark(this.#self, own);
  }

  #setMark(origin: string, hlc: string): void {
    this.#marks.set(origin, hlc);
    this.#dirty = true;
  }

  #hlcAgo(ms: number): string {
    return encodeHlc({ ms: Math.max(0, this.#clock.now() - ms), counter: 0 });
  }
}

function chunks<T>(a: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < a.length; i += n) out.push(a.slice(i, i + n));
  return out;
}
