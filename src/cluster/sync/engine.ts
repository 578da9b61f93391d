/**
 * Sans-IO state sync. Three paths, from fast to thorough:
 *  1. push (`push.ts`): every write, and every row new to a receiver, goes in batches to a few
 *     random peers under a byte budget of its own, in packets of its own;
 *  2. repair (`digest-exchange.ts`): every `digestIntervalMs` a node sends one random peer a
 *     4-byte digest of its per-origin progress marks (`marks.ts`); a mismatch narrows to
 *     buckets, then to origins, and the side that is ahead serves the missing rows in pages
 *     packed across origins (`page-server.ts`), byte-budgeted. While differences keep showing,
 *     rounds come every `busyDigestIntervalMs` and carry the marks at once (one round trip, not
 *     three); an origin is streamed from one peer at a time (`stream-claims.ts`);
 *  3. the same paged pull, continued page after page (`page-receiver.ts`), is the full-state
 *     stream of a joining node; it resumes from the persisted marks with any peer.
 * This file composes them: deadlines, dispatch of messages, tombstone collection, saving marks,
 * and pulling our own rows back into a new state directory (`recoverOwnRows`).
 */
import { type HlcClock, encodeHlc } from "../../replication/hlc.ts";
import { DEFAULT_SYNC_CONFIG, type SyncConfig, type SyncStats, newSyncStats } from "./config.ts";
import { DigestExchange } from "./digest-exchange.ts";
import { Reassembler, isFragment } from "./fragments.ts";
import { type Quarantined, RowIntake } from "./ingest.ts";
import { MarkBook, loadMarks } from "./marks.ts";
import { parseSyncMsg } from "./messages.ts";
import { PageReceiver } from "./page-receiver.ts";
import { PageServer } from "./page-server.ts";
import { PushQueue } from "./push.ts";
import type { ReplicaRow, ReplicaStore } from "../../replication/replica-store.ts";
import { StreamClaims } from "./stream-claims.ts";
import { FragmentingSender, type SyncTransport } from "./transport.ts";

export { DEFAULT_SYNC_CONFIG, type SyncConfig, type SyncStats } from "./config.ts";
export type { Quarantined } from "./ingest.ts";
export type { SyncTransport } from "./transport.ts";

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
  readonly stats: SyncStats = newSyncStats();
  /** The most recent rejected rows (bounded), for `netlet` diagnostics. */
  readonly quarantine: Quarantined[] = [];
  readonly #self: string;
  readonly #store: ReplicaStore;
  readonly #clock: HlcClock;
  readonly #t: SyncTransport;
  readonly #book: MarkBook;
  readonly #intake: RowIntake;
  readonly #push: PushQueue;
  readonly #pages: PageServer;
  readonly #receiver: PageReceiver;
  readonly #exchange: DigestExchange;
  #nextGcAt: number;
  #nextSaveAt: number;
  /** Our own origin is still being pulled back from peers (see `recoverOwnRows`). */
  #recovering: boolean;
  /** Recovery gives up after this time (no peer held anything of ours: a brand-new host). */
  readonly #recoverUntil: number;
  /** Partial fragmented messages from peers (bounded: 16 in flight, 256 KiB, 10 s). */
  readonly #reassembler = new Reassembler();
  #now: number;

  constructor(o: SyncOptions) {
    const config = (this.config = { ...DEFAULT_SYNC_CONFIG, ...o.config });
    const { self, store, clock, transport: t, now } = o;
    const stats = this.stats;
    this.#self = self;
    this.#store = store;
    this.#clock = clock;
    this.#t = t;
    this.#recovering = config.recoverOwnRows;
    this.#book = new MarkBook(loadMarks(store, self, this.#recovering), config.maxPending);
    this.#recoverUntil = now + 30_000;
    this.#intake = new RowIntake(store, clock, stats, this.quarantine);
    this.#push = new PushQueue(config, t, stats, now);
    // Conservative until our first collection: anyone further behind than the grace is reset.
    const horizon = this.#hlcAgo(config.tombstoneGraceMs);
    this.#pages = new PageServer(
      config,
      store,
      t,
      new FragmentingSender(t, config.maxFragmentedRowBytes, stats),
      stats,
      now,
      horizon,
    );
    const claims = new StreamClaims(config.streamHoldMs);
    const [book, intake] = [this.#book, this.#intake];
    this.#receiver = new PageReceiver({
      config,
      self,
      t,
      stats,
      intake,
      book,
      claims,
      ownRowsBack: () => this.#endRecovery(),
    });
    // A peer whose digest equals ours while our own mark is still empty holds no rows of ours
    // either: there is nothing to pull back (a host new to the cluster).
    const onMatch = () => this.#endRecovery();
    this.#exchange = new DigestExchange(
      { config, self, clock, t, stats, book, claims, pages: this.#pages, onMatch },
      now,
    );
    this.#nextGcAt = now + config.gcIntervalMs;
    this.#nextSaveAt = now + config.marksSaveIntervalMs;
    this.#now = now;
  }

  /**
   * We hold the cluster's state as a peer does: a peer's digest matched ours, and our own
   * rows (when this state directory is new) came back. Until then a rebuilt host must not
   * allocate from blocks it does not know it held.
   */
  caughtUp(): boolean {
    return !this.#recovering && this.#exchange.matched;
  }

  mark(origin: string): string {
    return this.#book.get(origin);
  }

  /**
   * Announce a local write that is already committed to the store. Its `prev` is our newest
   * row below it in the store, not the last one announced: writes of one transaction (an
   * instance and its ports) may be announced in any order, and a delta must never tell a
   * receiver it holds everything up to it while an older write is still on its way.
   */
  publish(row: ReplicaRow): void {
    const prev = this.#store.before(this.#self, row.hlc);
    if (row.hlc > this.mark(this.#self) && !this.#recovering) this.#book.set(this.#self, row.hlc);
    this.#push.enqueue(row, prev, this.#now);
  }

  nextDeadline(): number {
    return Math.min(this.#exchange.nextAt, this.#nextGcAt, this.#nextSaveAt, this.#push.nextAt);
  }

  tick(now: number): void {
    this.#now = now;
    if (this.#recovering && now >= this.#recoverUntil) this.#endRecovery();
    if (now >= this.#push.nextAt) this.#push.round(now);
    this.#exchange.tick(now);
    if (now >= this.#nextGcAt) {
      this.#nextGcAt = now + this.config.gcIntervalMs;
      const horizon = this.#hlcAgo(this.config.tombstoneGraceMs);
      this.#store.collectTombstones(horizon);
      this.#pages.gcHorizon = horizon;
    }
    if (now >= this.#nextSaveAt) {
      this.#nextSaveAt = now + this.config.marksSaveIntervalMs;
      const marks = this.#book.takeDirty();
      if (marks) this.#store.saveMarks(marks);
    }
  }

  /** A member is back from the dead: compare with it at once (see DigestExchange.sendTo). */
  memberBack(id: string, now: number): void {
    this.#exchange.sendTo(id, now);
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
        return this.#exchange.onDigest(m, addr, now);
      case "b":
        return this.#exchange.onBuckets(m, addr, now);
      case "w":
        return this.#exchange.onMarks(m, addr, now);
      case "r":
        return this.#receiver.onRows(m, from, addr, now);
      case "x":
        return this.#onReset(m.o, addr);
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

  #onDelta(raw: unknown, prev: string, from: string): void {
    const [r, row] = this.#intake.ingest(raw, from);
    if (!row) return;
    this.#book.advance(row.origin, prev, row.hlc);
    // Only rows new to us are passed on: a repeat means the rumour has mostly spread.
    if (r === "applied") this.#push.enqueue(row, prev, this.#now);
  }

  /** We are behind the peer's tombstone horizon for `origin`: start it over from nothing. */
  #onReset(origin: string, addr: string): void {
    this.stats.resets++;
    this.#store.dropOrigin(origin);
    this.#book.forget(origin);
    this.#t.sendUser(addr, { s: "w", bk: [], w: [[origin, ""]], q: 0 });
  }

  #endRecovery(): void {
    if (!this.#recovering) return;
    this.#recovering = false;
    // Everything we wrote since start is ours too: the mark is our newest own row.
    const own = this.#store.heads().get(this.#self);
    if (own && own > this.mark(this.#self)) this.#book.set(this.#self, own);
  }

  #hlcAgo(ms: number): string {
    return encodeHlc({ ms: Math.max(0, this.#clock.now() - ms), counter: 0 });
  }
}
