/**
 * Serving repair pages: the rows a peer lacks, for several origins packed into as few packets
 * as fit, skipping rows the peer already holds out of order. Digest-driven repair is
 * byte-budgeted; the page-after-page stream a joining node asks for is paced by its own round
 * trips. A peer further behind than the tombstone horizon is told to start the origin over.
 */
import type { SyncConfig, SyncStats } from "./config.ts";
import type { Segment } from "./messages.ts";
import type { PageSource } from "../../replication/replica-store.ts";
import { type WireRow, hlcToWire, toWire } from "./schema.ts";
import type { FragmentingSender, SyncTransport } from "./transport.ts";

/** JSON framing of a page message and of one segment in it (without rows and origin). */
export const PAGE_HEADER = 40;
const SEGMENT_HEADER = 52;

/** One origin a peer lacks: rows after `after` up to our `mine`, minus those it holds. */
export interface Want {
  o: string;
  after: string;
  mine: string;
  held: Set<string>;
}

export class PageServer {
  /** Versions older than this may have lost their tombstones (see the engine's collection). */
  gcHorizon: string;
  readonly #config: SyncConfig;
  readonly #store: PageSource;
  readonly #t: SyncTransport;
  readonly #sender: FragmentingSender;
  readonly #stats: SyncStats;
  #tokens: number;
  #tokensAt: number;

  constructor(
    config: SyncConfig,
    store: PageSource,
    t: SyncTransport,
    sender: FragmentingSender,
    stats: SyncStats,
    now: number,
    gcHorizon: string,
  ) {
    this.#config = config;
    this.#store = store;
    this.#t = t;
    this.#sender = sender;
    this.#stats = stats;
    this.#tokens = config.repairBurstBytes;
    this.#tokensAt = now;
    this.gcHorizon = gcHorizon;
  }

  /**
   * Pages for several origins, packed into as few packets as fit. A repair (`limited`) stops
   * when the byte budget runs out; the rest waits for a later digest round.
   */
  serve(wants: Want[], addr: string, limited: boolean, now: number): void {
    let segs: Segment[] = [];
    let bytes = PAGE_HEADER;
    const flush = () => {
      if (!segs.length) return;
      this.#stats.pagesSent++;
      if (limited) this.#tokens -= bytes;
      this.#sender.send(addr, { s: "r", g: segs }, now);
      segs = [];
      bytes = PAGE_HEADER;
    };
    for (const w of wants) {
      if (limited && this.#budget(now) - bytes <= 0) break;
      if (w.after !== "" && w.after < this.gcHorizon) {
        this.#t.sendUser(addr, { s: "x", o: w.o });
        continue;
      }
      let seg = this.#segment(w, this.#config.pageBytes - bytes, segs.length === 0);
      if (seg.rows.length === 0 && seg.m === 1) {
        flush();
        seg = this.#segment(w, this.#config.pageBytes - bytes, true);
      }
      segs.push(seg);
      bytes += JSON.stringify(seg).length + 1;
      if (segs.length >= 64) flush();
    }
    flush();
  }

  /** Bytes of repair we may still send now (token bucket). */
  #budget(now: number): number {
    const rate = this.#config.repairBytesPerSec / 1000;
    this.#tokens = Math.min(this.#config.repairBurstBytes, this.#tokens + (now - this.#tokensAt) * rate);
    this.#tokensAt = now;
    return this.#tokens;
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
    // References first, whole rows only as they fit: a page holds a handful of rows.
    const batch = this.#store.refsSince(w.o, w.after, 64);
    for (const ref of batch) {
      const r = w.held.has(ref.hlc) ? undefined : this.#store.get(ref.table, ref.key);
      if (!r) {
        // The peer holds it already.
        last = ref.hlc;
        continue;
      }
      const wire = toWire(r);
      const size = JSON.stringify(wire).length + 1;
      const fit = this.#fit(size, room - bytes, force && rows.length === 0);
      if (fit === "stop") {
        more = 1;
        break;
      }
      if (fit !== "skip") {
        rows.push(wire);
        bytes += size;
      }
      last = r.hlc;
      if (fit === "alone") {
        more = 1;
        break;
      }
    }
    if (batch.length === 64 && !more && last < w.mine) more = 1;
    const upTo = more ? (last < w.mine ? last : w.mine) : w.mine;
    return { o: w.o, f: hlcToWire(w.after), u: hlcToWire(upTo), m: more, rows };
  }

  /**
   * Where a row of `size` bytes goes, with `left` bytes of room: into the segment, alone in it
   * (a large row, which the sender cuts into fragments), nowhere (too large even in fragments:
   * counted, and skipped rather than wedging the stream), or to a later page. The `first` row
   * of a forced segment always goes.
   */
  #fit(size: number, left: number, first: boolean): "take" | "alone" | "skip" | "stop" {
    if (size > this.#config.maxFragmentedRowBytes) {
      this.#stats.oversize++;
      return "skip";
    }
    if (size > this.#config.maxRowBytes) return first ? "alone" : "stop";
    return size > left && !first ? "stop" : "take";
  }
}
