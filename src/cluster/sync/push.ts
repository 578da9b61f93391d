/**
 * Push: every write, and every row new to us, is pushed in batches to a few random peers (up
 * to `pushFanout` sends per node) under a byte budget of its own, in packets of its own:
 * membership traffic neither carries nor competes with the write load. What push misses,
 * repair closes.
 */
import type { SyncConfig, SyncStats } from "./config.ts";
import { PAGE_HEADER } from "./page-server.ts";
import type { ReplicaRow } from "../../replication/replica-store.ts";
import { hlcToWire, toWire } from "./schema.ts";
import type { SyncTransport } from "./transport.ts";

interface Outgoing {
  key: string;
  item: unknown;
  bytes: number;
  sends: number;
  /** When it was queued. */
  at: number;
}

export class PushQueue {
  /** When the next push round is due; Infinity while nothing waits. */
  nextAt = Infinity;
  readonly #config: SyncConfig;
  readonly #t: SyncTransport;
  readonly #stats: SyncStats;
  /** Deltas waiting, by row, oldest first (insertion order). */
  readonly #outbox = new Map<string, Outgoing>();
  #tokens: number;
  #tokensAt: number;

  constructor(config: SyncConfig, t: SyncTransport, stats: SyncStats, now: number) {
    this.#config = config;
    this.#t = t;
    this.#stats = stats;
    this.#tokens = config.pushBytesPerSec / 4;
    this.#tokensAt = now;
  }

  /** Queue a delta for push rounds; a newer version of the same row replaces it. */
  enqueue(row: ReplicaRow, prev: string, now: number): void {
    const key = `${row.table}/${row.key}`;
    this.#outbox.delete(key);
    if (this.#outbox.size >= this.#config.pushMaxItems) this.#dropOne();
    const text = JSON.stringify([toWire(row), hlcToWire(prev)]);
    if (text.length > this.#config.maxRowBytes + 20) {
      this.#stats.oversize++;
      return;
    }
    this.#outbox.set(key, { key, item: JSON.parse(text), bytes: text.length + 1, sends: 0, at: now });
    if (this.nextAt === Infinity) this.nextAt = now;
  }

  /** The outbox is full: the most-sent delta goes (the oldest among equals). */
  #dropOne(): void {
    let worst: Outgoing | undefined;
    for (const o of this.#outbox.values()) if (!worst || o.sends > worst.sends) worst = o;
    if (worst) this.#outbox.delete(worst.key);
  }

  /**
   * One push round: a batch to each of a few random peers, fewest-sent and newest deltas
   * first, within the byte budget. Deltas that miss out while the budget is short are left to
   * repair (dropped by age order when the outbox is full).
   */
  round(now: number): void {
    this.#refill(now);
    this.#expire(now);
    this.nextAt = this.#outbox.size ? now + this.#config.pushIntervalMs : Infinity;
    if (!this.#outbox.size) return;
    // Map order is insertion order; reversed, newest first, which the stable sort keeps among equals.
    const order = [...this.#outbox.values()].reverse().sort((a, b) => a.sends - b.sends);
    for (const peer of this.#t.pickLive(this.#config.pushPeers)) {
      const addr = this.#t.addressOf(peer);
      if (!addr || this.#tokens <= 0) break;
      const { taken, bytes } = this.#batch(order);
      if (!taken.length) break;
      this.#tokens -= bytes;
      if (this.#t.sendUser(addr, { s: "e", d: taken.map((o) => o.item) })) continue;
      // A single big delta with a long node id: counted, and left to repair.
      this.#stats.oversize++;
      for (const o of taken) o.sends = this.#config.pushFanout;
    }
    for (const o of order) if (o.sends >= this.#config.pushFanout) this.#outbox.delete(o.key);
    if (!this.#outbox.size) this.nextAt = Infinity;
  }

  #refill(now: number): void {
    const rate = this.#config.pushBytesPerSec / 1000;
    this.#tokens = Math.min(this.#config.pushBytesPerSec / 4, this.#tokens + (now - this.#tokensAt) * rate);
    this.#tokensAt = now;
  }

  /** Oldest first in insertion order: stop at the first young enough. */
  #expire(now: number): void {
    for (const o of this.#outbox.values()) {
      if (now - o.at <= this.#config.pushMaxAgeMs) break;
      this.#outbox.delete(o.key);
    }
  }

  /** The deltas of one page for one peer, counted as sent. */
  #batch(order: Outgoing[]): { taken: Outgoing[]; bytes: number } {
    let bytes = PAGE_HEADER;
    const taken: Outgoing[] = [];
    for (const o of order) {
      // The first delta goes even if larger than a page, so a big row is not stuck here.
      if (o.sends >= this.#config.pushFanout || (taken.length && bytes + o.bytes > this.#config.pageBytes)) continue;
      if (taken.length >= 64) break;
      taken.push(o);
      bytes += o.bytes;
      o.sends++;
    }
    return { taken, bytes };
  }
}
