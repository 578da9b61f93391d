/**
 * Sans-IO state sync. Three paths, from fast to thorough:
 *  1. push: every write, and every row new to a receiver, is pushed in batches to a few random
 *     peers (up to `pushFanout` sends per node) under a byte budget of its own, in packets of
 *     its own: membership traffic neither carries nor competes with the write load;
 *  2. repair: every `digestIntervalMs` a node sends one random peer a 4-byte digest of its
 *     per-origin progress marks; a mismatch narrows to buckets, then to origins, and the side
 *     that is ahead serves the missing rows in pages packed across origins, skipping rows the
 *     peer already holds out of order. While differences keep showing (a write burst), rounds
 *     come every `busyDigestIntervalMs` and carry the marks at once (one round trip, not three);
 *     an origin is streamed from one peer at a time, and serving is byte-budgeted;
 *  3. the same paged pull, continued page after page, is the full-state stream of a joining
 *     node; it resumes from the persisted marks with any peer after an interruption.
 * A mark says "I hold every write of this origin up to here (or something newer)". It advances
 * on a delta whose `prev` equals it, or on a page that starts at or below it (and then along
 * the out-of-order rows already held).
 */
import { type HlcClock, encodeHlc } from "../../store/hlc.ts";
import { MarkHasher, bucketOf, fnv1a } from "./digest.ts";
import { MAX_HELD, type Segment, type SyncMsg, parseSyncMsg } from "./messages.ts";
import { Reassembler, isFragment, splitPayload } from "./fragments.ts";
import { HOST_TABLES, type ReplicaRow, type ReplicaStore } from "./replica-store.ts";
import { type WireRow, hlcToWire, toWire, validateRow } from "./schema.ts";

export interface SyncTransport {
  sendUser(addr: string, data: unknown): boolean;
  pickLive(k: number): string[];
  addressOf(id: string): string | undefined;
}

export interface SyncConfig {
  /**
   * Fresh deltas are pushed to random peers in batches this often (while there are any).
   * They travel in packets of their own, under their own byte budget, so the write load
   * neither rides on nor crowds out membership traffic.
   */
  pushIntervalMs: number;
  /** Peers sent a batch per push round. */
  pushPeers: number;
  /** Times one node sends one delta (to different peers); repair closes what push misses. */
  pushFanout: number;
  /** Bytes of pushed deltas per second (token bucket, burst a quarter of it). */
  pushBytesPerSec: number;
  /** Deltas waiting to be pushed, at most; the most-sent, oldest one is dropped first. */
  pushMaxItems: number;
  /** A delta queued longer than this is no longer pushed: most peers have it, repair does the rest. */
  pushMaxAgeMs: number;
  digestIntervalMs: number;
  /** Bytes of marks a busy digest round sends at most (whole buckets, at least one). */
  directMarksBytes: number;
  /**
   * Digest period while we recently saw a difference (a write burst): repair rounds come
   * faster exactly when there is something to repair, and idle clusters stay cheap.
   */
  busyDigestIntervalMs: number;
  /** Differences younger than this are left to gossip. */
  settleMs: number;
  buckets: number;
  /** Bytes of rows per page packet (kept under the membership packet limit). */
  pageBytes: number;
  /**
   * Largest row (wire form) that is replicated; it then travels alone in its packet. Larger
   * ones would not fit a datagram: counted as oversize and skipped.
   */
  maxRowBytes: number;
  /**
   * Rows above maxRowBytes and up to this size travel alone in a repair page cut into
   * datagram-sized fragments (an RSA-8192 key, a long rule description); larger ones are
   * counted as oversize and not replicated.
   */
  maxFragmentedRowBytes: number;
  /** Origins served per request; the rest wait for the next digest round. */
  originsPerRequest: number;
  /**
   * Bytes of repair pages served per second (token bucket, burst `repairBurstBytes`). Bounds
   * the bandwidth of digest-driven repair under heavy write load; the page-after-page stream
   * a joining node asks for is not limited here (it is paced by its own round trips).
   */
  repairBytesPerSec: number;
  repairBurstBytes: number;
  tombstoneGraceMs: number;
  gcIntervalMs: number;
  /**
   * An origin we asked one peer for is not asked of another for this long (unless the stream
   * ends first), so two peers do not send us the same rows.
   */
  streamHoldMs: number;
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
  pushIntervalMs: 100,
  pushPeers: 3,
  pushFanout: 12,
  pushBytesPerSec: 10_000,
  pushMaxItems: 512,
  pushMaxAgeMs: 2000,
  digestIntervalMs: 1000,
  busyDigestIntervalMs: 250,
  directMarksBytes: 3000,
  settleMs: 300,
  buckets: 16,
  pageBytes: 1000,
  maxRowBytes: 1100,
  maxFragmentedRowBytes: 32_768,
  originsPerRequest: 64,
  repairBytesPerSec: 24_000,
  repairBurstBytes: 48_000,
  tombstoneGraceMs: 24 * 3600_000,
  gcIntervalMs: 60_000,
  streamHoldMs: 100,
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
  fragmentsSent: number;
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
  readonly stats: SyncStats = { applied: 0, stale: 0, quarantined: 0, future: 0, oversize: 0, fragmentsSent: 0, resets: 0, digests: 0, mismatches: 0, pagesSent: 0, pageRows: 0, pageStale: 0, malformed: 0 };
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
  /** When a digest last showed a difference with a peer (either side of the exchange). */
  #differedAt = -Infinity;
  /** Next bucket whose marks a busy digest round sends. */
  #rotor = 0;
  #nextGcAt: number;
  #nextSaveAt: number;
  #dirty = false;
  /** Our own origin is still being pulled back from peers (see `recoverOwnRows`). */
  #recovering = false;
  /** Recovery gives up after this time (no peer held anything of ours: a brand-new host). */
  #recoverUntil = 0;
  readonly #outbox = new Map<string, Outgoing>();
  /** Partial fragmented messages from peers (bounded: 16 in flight, 256 KiB, 10 s). */
  readonly #reassembler = new Reassembler();
  #fragmentSeq = 0;
  #nextPushAt = Infinity;
  #pushTokens: number;
  #pushTokensAt: number;
  /** Origins being streamed to us: from which peer, until when (see `streamHoldMs`). */
  readonly #streams = new Map<string, { addr: string; until: number }>();
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
    // Nodes started together must not send their digests in lockstep: a per-node phase.
    this.#nextDigestAt = o.now + this.config.busyDigestIntervalMs + (fnv1a(o.self) % this.config.busyDigestIntervalMs);
    this.#nextGcAt = o.now + this.config.gcIntervalMs;
    this.#nextSaveAt = o.now + this.config.marksSaveIntervalMs;
    this.#tokens = this.config.repairBurstBytes;
    this.#pushTokens = this.config.pushBytesPerSec / 4;
    this.#pushTokensAt = o.now;
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
    this.#enqueue(row, prev);
  }

  nextDeadline(): number {
    return Math.min(this.#nextDigestAt, this.#nextGcAt, this.#nextSaveAt, this.#nextPushAt);
  }

  tick(now: number): void {
    this.#now = now;
    if (this.#recovering && now >= this.#recoverUntil) this.#endRecovery();
    if (now >= this.#nextPushAt) this.#pushRound();
    if (now >= this.#nextDigestAt) {
      const busy = now - this.#differedAt < 2 * this.config.digestIntervalMs;
      this.#nextDigestAt = now + (busy ? this.config.busyDigestIntervalMs : this.config.digestIntervalMs);
      for (const [o, s] of this.#streams) if (s.until <= now) this.#streams.delete(o);
      this.#sendDigest(busy);
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
    if (isFragment(data)) return this.#onFragment(from, addr, data, now);
    const m = parseSyncMsg(data);
    if (!m) {
      this.stats.malformed++;
      return;
    }
    switch (m.s) {
      case "d":
        return this.#onDelta(m.r, m.p, from);
      case "e":
        for (const [r, p] of m.d) this.#onDelta(r, p, from);
        return;
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
        this.#pendingCount -= this.#pending.get(m.o)?.size ?? 0;
        this.#pending.delete(m.o);
        this.#t.sendUser(addr, { s: "w", bk: [], w: [[m.o, ""]], q: 0 });
        return;
    }
  }

  /** A whole message from fragments is handled like any other (never a fragment again). */
  #onFragment(from: string, addr: string, f: Parameters<Reassembler["add"]>[1], now: number): void {
    const text = this.#reassembler.add(from, f, now);
    if (text === null) return;
    let inner: unknown;
    try {
      inner = JSON.parse(text);
    } catch {
      inner = null;
    }
    if (inner === null || isFragment(inner)) {
      this.stats.malformed++;
      return;
    }
    this.handle(from, addr, inner, now);
  }

  /** Send one message, cut into fragments when it does not fit a datagram. */
  #send(addr: string, msg: unknown): boolean {
    if (this.#t.sendUser(addr, msg)) return true;
    const text = JSON.stringify(msg);
    if (text.length > this.config.maxFragmentedRowBytes + 1024) return false;
    // 400 characters: even all quotes (escaped to 2 bytes) stay under the datagram limit.
    const parts = splitPayload(`${this.#now.toString(36)}.${++this.#fragmentSeq}`, text, 400);
    for (const f of parts) this.#t.sendUser(addr, f);
    this.stats.fragmentsSent += parts.length;
    return true;
  }

  // ---- deltas --------------------------------------------------------------------------

  #onDelta(raw: unknown, prev: string, from: string): void {
    const [r, row] = this.#ingest(raw, from);
    if (!row) return;
    this.#advance(row.origin, prev, row.hlc);
    // Only rows new to us are passed on: a repeat means the rumour has mostly spread.
    if (r === "applied") this.#enqueue(row, prev);
  }

  /** Queue a delta for push rounds; a newer version of the same row replaces it. */
  #enqueue(row: ReplicaRow, prev: string): void {
    const key = `${row.table}/${row.key}`;
    this.#outbox.delete(key);
    if (this.#outbox.size >= this.config.pushMaxItems) this.#dropOutgoing();
    const text = JSON.stringify([toWire(row), hlcToWire(prev)]);
    if (text.length > this.config.maxRowBytes + 20) {
      this.stats.oversize++;
      return;
    }
    this.#outbox.set(key, { key, item: JSON.parse(text), bytes: text.length + 1, sends: 0, at: this.#now });
    if (this.#nextPushAt === Infinity) this.#nextPushAt = this.#now;
  }

  #dropOutgoing(): void {
    let worst: Outgoing | undefined;
    for (const o of this.#outbox.values()) if (!worst || o.sends > worst.sends) worst = o;
    if (worst) this.#outbox.delete(worst.key);
  }

  /**
   * One push round: a batch to each of a few random peers, fewest-sent and newest deltas
   * first, within the byte budget. Deltas that miss out while the budget is short are left to
   * repair (dropped by age order when the outbox is full).
   */
  #pushRound(): void {
    const rate = this.config.pushBytesPerSec / 1000;
    this.#pushTokens = Math.min(this.config.pushBytesPerSec / 4, this.#pushTokens + (this.#now - this.#pushTokensAt) * rate);
    this.#pushTokensAt = this.#now;
    // Oldest first in insertion order: stop at the first young enough.
    for (const o of this.#outbox.values()) {
      if (this.#now - o.at <= this.config.pushMaxAgeMs) break;
      this.#outbox.delete(o.key);
    }
    this.#nextPushAt = this.#outbox.size ? this.#now + this.config.pushIntervalMs : Infinity;
    if (!this.#outbox.size) return;
    // Map order is insertion order; reversed, newest first, which the stable sort keeps among equals.
    const order = [...this.#outbox.values()].reverse().sort((a, b) => a.sends - b.sends);
    for (const peer of this.#t.pickLive(this.config.pushPeers)) {
      const addr = this.#t.addressOf(peer);
      if (!addr || this.#pushTokens <= 0) break;
      const batch: unknown[] = [];
      let bytes = PAGE_HEADER;
      const taken: Outgoing[] = [];
      for (const o of order) {
        // The first delta goes even if larger than a page, so a big row is not stuck here.
        if (o.sends >= this.config.pushFanout || (taken.length && bytes + o.bytes > this.config.pageBytes)) continue;
        if (taken.length >= 64) break;
        taken.push(o);
        bytes += o.bytes;
        o.sends++;
      }
      if (!taken.length) break;
      this.#pushTokens -= bytes;
      if (this.#t.sendUser(addr, { s: "e", d: taken.map((o) => o.item) })) continue;
      // A single big delta with a long node id: counted, and left to repair.
      this.stats.oversize++;
      for (const o of taken) o.sends = this.config.pushFanout;
    }
    for (const o of order) if (o.sends >= this.config.pushFanout) this.#outbox.delete(o.key);
    if (!this.#outbox.size) this.#nextPushAt = Infinity;
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

  /** Validate and apply one remote row; the row comes back when it was valid and not refused. */
  #ingest(raw: unknown, from: string): ["applied" | "stale", ReplicaRow] | ["invalid" | "future", undefined] {
    const v = validateRow(raw);
    if (!v.ok) return [this.#reject(v.reason, from, raw), undefined];
    const row = v.row;
    if (!this.#clock.observe(row.hlc)) {
      this.stats.future++;
      return ["future", undefined];
    }
    const cur = this.#store.get(row.table, row.key);
    // Single-writer rows without an owner field (leases) stay with their first writer.
    if (cur && !cur.deleted && !row.deleted && cur.origin !== row.origin && (HOST_TABLES as readonly string[]).includes(row.table)) {
      return [this.#reject(`${row.table} ${row.key} owned by ${cur.origin}`, from, raw), undefined];
    }
    if (this.#store.apply(row)) {
      this.stats.applied++;
      return ["applied", row];
    }
    this.stats.stale++;
    return ["stale", row];
  }

  #reject(reason: string, from: string, row: unknown): "invalid" {
    this.stats.quarantined++;
    this.quarantine.push({ reason, from, row });
    if (this.quarantine.length > 64) this.quarantine.shift();
    return "invalid";
  }

  // ---- digests -------------------------------------------------------------------------

  #cutoff(): number {
    return Math.floor((this.#clock.now() - this.config.settleMs) / 100) * 100;
  }

  #hashes(cutoffMs: number): number[] {
    return this.#hasher.hash(this.#marks, encodeHlc({ ms: Math.max(0, cutoffMs), counter: 0 }));
  }

  /**
   * Idle: a 4-byte digest, narrowed to buckets and marks only on a mismatch. Busy (a recent
   * difference): our marks for a rotating set of buckets at once, so the peer serves what we
   * lack in one round trip instead of three; under heavy loss a long exchange rarely completes.
   */
  #sendDigest(busy: boolean): void {
    const [peer] = this.#t.pickLive(1);
    const addr = peer && this.#t.addressOf(peer);
    if (!addr) return;
    this.stats.digests++;
    if (busy) return this.#sendDirectMarks(addr);
    const c = this.#cutoff();
    this.#t.sendUser(addr, { s: "g", c, h: this.#hashes(c)[this.config.buckets] });
  }

  #sendDirectMarks(addr: string): void {
    const byBucket = new Map<number, string[]>();
    for (const o of this.#marks.keys()) {
      if (!this.mark(o)) continue;
      const b = bucketOf(o, this.config.buckets);
      const list = byBucket.get(b);
      if (list) list.push(o);
      else byBucket.set(b, [o]);
    }
    const bk: number[] = [];
    let bytes = 0;
    for (let i = 0; i < this.config.buckets && (bk.length === 0 || bytes < this.config.directMarksBytes); i++) {
      const b = (this.#rotor + i) % this.config.buckets;
      bk.push(b);
      for (const o of byBucket.get(b) ?? []) bytes += o.length + 16;
    }
    this.#rotor = (this.#rotor + bk.length) % this.config.buckets;
    this.#sendBucketMarks(addr, bk.sort((a, b) => a - b));
  }

  #onDigest(m: { c: number; h: number }, addr: string): void {
    const h = this.#hashes(m.c);
    if (h[this.config.buckets] === m.h) return;
    this.stats.mismatches++;
    this.#differedAt = this.#now;
    this.#t.sendUser(addr, { s: "b", c: m.c, h: h.slice(0, this.config.buckets) });
  }

  #onBuckets(m: { c: number; h: number[] }, addr: string): void {
    if (m.h.length !== this.config.buckets) return;
    const mine = this.#hashes(m.c);
    const bk = m.h.flatMap((h, i) => (h === mine[i] ? [] : [i]));
    if (bk.length === 0) return;
    this.#differedAt = this.#now;
    this.#sendBucketMarks(addr, bk);
  }

  /** Our marks for whole buckets `bk`, asking for the peer's in return. */
  #sendBucketMarks(addr: string, bk: number[]): void {
    const set = new Set(bk);
    const w = [...this.#marks.keys()]
      .filter((o) => this.mark(o) && set.has(bucketOf(o, this.config.buckets)))
      .sort((a, b) => cmpPos(this.#pos(a), this.#pos(b)))
      .map((o) => this.#entry(o));
    // The peer serves whatever of these it is ahead on, except what we already stream elsewhere.
    this.#sendMarks(addr, { s: "w", bk, w: [], q: 1 }, w, (o) => !this.#claim(o, addr));
  }

  /** Take origin `o` as streamed from `addr`; false when another peer is streaming it. */
  #claim(o: string, addr: string): boolean {
    const s = this.#streams.get(o);
    if (s && s.addr !== addr && s.until > this.#now) return false;
    this.#streams.set(o, { addr, until: this.#now + this.config.streamHoldMs });
    return true;
  }

  #release(o: string, addr: string): void {
    if (this.#streams.get(o)?.addr === addr) this.#streams.delete(o);
  }

  /** Our mark for `o`, plus the versions we already hold beyond it. */
  #entry(o: string): MarkEntry {
    const mark = this.mark(o);
    const links = this.#pending.get(o);
    if (!links?.size) return [o, mark];
    const held = [...links.values()].filter((h) => h > mark).sort().slice(0, MAX_HELD);
    return held.length ? [o, mark, held] : [o, mark];
  }

  /** Where an origin sorts in a marks message that covers whole buckets. */
  #pos(o: string): Pos {
    return [bucketOf(o, this.config.buckets), o];
  }

  /**
   * Send a marks message, split so each packet stays under the page size. Entries covering
   * whole buckets must come sorted by `#pos`; each part then says which range it covers.
   */
  #sendMarks(addr: string, head: Extract<SyncMsg, { s: "w" }>, canonical: MarkEntry[], skip?: (o: string) => boolean): void {
    // Versions go relative to the oldest one listed: a few base-36 digits each.
    let base = Infinity;
    for (const e of canonical) {
      if (e[1]) base = Math.min(base, hlcMs(e[1]));
      if (e.length === 3) for (const h of e[2]) base = Math.min(base, hlcMs(h));
    }
    if (base === Infinity) base = 0;
    const rel = (h: string) => (h ? hlcToWire(h, base) : "");
    const entries = canonical.map((e): MarkEntry => (e.length === 3 ? [e[0], rel(e[1]), e[2].map(rel)] : [e[0], rel(e[1])]));
    if (base) head = { ...head, b: base };
    const parts: { w: MarkEntry[]; sk: number[] }[] = [{ w: [], sk: [] }];
    let bytes = 0;
    for (const e of entries) {
      const size = JSON.stringify(e).length + 4;
      let part = parts[parts.length - 1];
      if (part.w.length && (bytes + size > this.config.pageBytes || part.w.length >= 512)) {
        parts.push((part = { w: [], sk: [] }));
        bytes = 0;
      }
      if (skip?.(e[0])) part.sk.push(part.w.length);
      part.w.push(e);
      bytes += size;
    }
    parts.forEach((p, i) => {
      if (!p.w.length && head.q === 0) return;
      const msg: Extract<SyncMsg, { s: "w" }> = { ...head, w: p.w };
      if (p.sk.length) msg.sk = p.sk;
      if (head.bk.length && i > 0) msg.lo = this.#pos(p.w[0][0]);
      if (head.bk.length && i < parts.length - 1) msg.hi = this.#pos(parts[i + 1].w[0][0]);
      this.#t.sendUser(addr, msg);
    });
  }

  /** Serve what the peer lacks, oldest gap first; ask for what we lack (when `q` = 1). */
  #onMarks(m: Extract<SyncMsg, { s: "w" }>, addr: string): void {
    const theirs = new Map(m.w.map((e) => [e[0], e] as const));
    const skip = new Set((m.sk ?? []).map((i) => m.w[i]?.[0]));
    const origins = new Set(theirs.keys());
    if (m.bk.length) {
      const set = new Set(m.bk);
      for (const o of this.#marks.keys()) {
        const p = this.#pos(o);
        if (set.has(p[0]) && (!m.lo || cmpPos(p, m.lo) >= 0) && (!m.hi || cmpPos(p, m.hi) < 0)) origins.add(o);
      }
    }
    const serve: Want[] = [];
    const want: MarkEntry[] = [];
    for (const o of origins) {
      const mine = this.mark(o);
      const e = theirs.get(o);
      const their = e?.[1] ?? "";
      if (mine > their) {
        if (!skip.has(o)) serve.push({ o, after: their, mine, held: new Set(e?.length === 3 ? e[2] : []) });
      } else if (their > mine && m.q === 1 && this.#claim(o, addr)) want.push(this.#entry(o));
    }
    if (serve.length || want.length) this.#differedAt = this.#now;
    serve.sort((a, b) => (a.after < b.after ? -1 : a.after > b.after ? 1 : 0));
    this.#serve(serve.slice(0, this.config.originsPerRequest), addr, m.c !== 1);
    if (want.length) this.#sendMarks(addr, { s: "w", bk: [], w: [], q: 0 }, want);
  }

  /** Bytes of repair we may still send now (token bucket). */
  #budget(): number {
    const rate = this.config.repairBytesPerSec / 1000;
    this.#tokens = Math.min(this.config.repairBurstBytes, this.#tokens + (this.#now - this.#tokensAt) * rate);
    this.#tokensAt = this.#now;
    return this.#tokens;
  }

  /**
   * Pages for several origins, packed into as few packets as fit. A repair (`limited`) stops
   * when the byte budget runs out; the rest waits for a later digest round.
   */
  #serve(wants: Want[], addr: string, limited: boolean): void {
    let segs: Segment[] = [];
    let bytes = PAGE_HEADER;
    const flush = () => {
      if (!segs.length) return;
      this.stats.pagesSent++;
      if (limited) this.#tokens -= bytes;
      this.#send(addr, { s: "r", g: segs });
      segs = [];
      bytes = PAGE_HEADER;
    };
    for (const w of wants) {
      if (limited && this.#budget() - bytes <= 0) break;
      if (w.after !== "" && w.after < this.#gcHorizon) {
        this.#t.sendUser(addr, { s: "x", o: w.o });
        continue;
      }
      let seg = this.#segment(w, this.config.pageBytes - bytes, segs.length === 0);
      if (seg.rows.length === 0 && seg.m === 1) {
        flush();
        seg = this.#segment(w, this.config.pageBytes - bytes, true);
      }
      segs.push(seg);
      bytes += JSON.stringify(seg).length + 1;
      if (segs.length >= 64) flush();
    }
    flush();
  }

  /**
   * Rows of one origin after `after` that the peer does not hold, within `room` bytes; with
   * `force`, at least one row even past `room` (a page always makes progress).
   */
  #segment(w: Want, room: number, force: boolean): Segment {
    const rows: WireRow[] = [];
    let bytes = SEGMENT_HEADER + 2 * w.o.length;
    let more: 0 | 1 = 0;
    let last = w.after;
    const batch = this.#store.changedSince(w.o, w.after, 64);
    for (const r of batch) {
      if (w.held.has(r.hlc)) {
        last = r.hlc;
        continue;
      }
      const wire = toWire(r);
      const size = JSON.stringify(wire).length + 1;
      if (size > this.config.maxFragmentedRowBytes) {
        // Too large even in fragments; counted, and skipped rather than wedging the stream.
        this.stats.oversize++;
        last = r.hlc;
        continue;
      }
      if (size > this.config.maxRowBytes) {
        // A large row goes alone, as the only row of its page, which #send cuts into fragments.
        if (rows.length || !force) {
          more = 1;
          break;
        }
        rows.push(wire);
        last = r.hlc;
        more = 1;
        break;
      }
      if (bytes + size > room && (rows.length || !force)) {
        more = 1;
        break;
      }
      bytes += size;
      rows.push(wire);
      last = r.hlc;
    }
    if (batch.length === 64 && !more && last < w.mine) more = 1;
    const upTo = more ? (last < w.mine ? last : w.mine) : w.mine;
    return { o: w.o, f: hlcToWire(w.after), u: hlcToWire(upTo), m: more, rows };
  }

  #onRows(m: Extract<SyncMsg, { s: "r" }>, from: string, addr: string): void {
    const next: MarkEntry[] = [];
    for (const seg of m.g) {
      if (!this.#onSegment(seg, from)) this.#release(seg.o, addr);
      else if (this.#claim(seg.o, addr)) next.push(this.#entry(seg.o));
    }
    // Keep streaming these origins from the same peer (a joining node's full-state transfer).
    if (next.length) this.#sendMarks(addr, { s: "w", bk: [], w: [], q: 0, c: 1 }, next);
  }

  /** Apply one segment; true when the peer has more of this origin for us. */
  #onSegment(seg: Segment, from: string): boolean {
    let future = false;
    for (const raw of seg.rows) {
      const [r] = this.#ingest(raw, from);
      future ||= r === "future";
      this.stats.pageRows++;
      if (r === "stale") this.stats.pageStale++;
    }
    const mark = this.mark(seg.o);
    // A refused future row is retried later, so the mark must not move past it.
    if (mark < seg.f || future) return false;
    if (seg.u > mark) this.#setMark(seg.o, seg.u);
    this.#chain(seg.o);
    if (seg.o === this.#self && seg.m === 0) this.#endRecovery();
    return seg.m === 1;
  }

  /**
   * After a page moved a mark, rows that arrived out of order right after it extend it: a link
   * `prev → hlc` with prev at or below the mark means nothing lies between the mark and hlc.
   */
  #chain(origin: string): void {
    const links = this.#pending.get(origin);
    if (!links) return;
    let mark = this.mark(origin);
    for (let moved = true; moved; ) {
      moved = false;
      for (const [prev, hlc] of links) {
        if (prev > mark) continue;
        links.delete(prev);
        this.#pendingCount--;
        if (hlc > mark) {
          mark = hlc;
          moved = true;
        }
      }
    }
    if (links.size === 0) this.#pending.delete(origin);
    if (mark > this.mark(origin)) this.#setMark(origin, mark);
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

interface Outgoing {
  key: string;
  item: unknown;
  bytes: number;
  sends: number;
  /** When it was queued. */
  at: number;
}

const hlcMs = (h: string): number => Number(h.slice(0, h.indexOf(".")));

type MarkEntry = Extract<SyncMsg, { s: "w" }>["w"][number];

/** (bucket, origin): the order of marks in a message that covers whole buckets. */
type Pos = [number, string];
const cmpPos = (a: Pos, b: Pos): number => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);

/** One origin a peer lacks: rows after `after` up to our `mine`, minus those it holds. */
interface Want {
  o: string;
  after: string;
  mine: string;
  held: Set<string>;
}

/** JSON framing of a page message and of one segment in it (without rows and origin). */
const PAGE_HEADER = 40;
const SEGMENT_HEADER = 52;
