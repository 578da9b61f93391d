/**
 * Receiving repair pages. Each segment's rows are applied; the mark moves to the end of the
 * segment when the segment starts at or below it, and on along the out-of-order rows already
 * held. While the peer has more of an origin, we ask it for the next page at once: page after
 * page, this is the full-state stream of a joining node, which resumes from the persisted
 * marks with any peer after an interruption.
 */
import type { SyncConfig, SyncStats } from "./config.ts";
import type { RowIntake } from "./ingest.ts";
import type { MarkBook, MarkEntry } from "./marks.ts";
import { sendMarks } from "./marks-packets.ts";
import type { Segment, SyncMsg } from "./messages.ts";
import type { StreamClaims } from "./stream-claims.ts";
import type { SyncTransport } from "./transport.ts";

export interface ReceiverDeps {
  config: SyncConfig;
  self: string;
  t: SyncTransport;
  stats: SyncStats;
  intake: RowIntake;
  book: MarkBook;
  claims: StreamClaims;
  /** Our own origin came back whole from a peer (see `recoverOwnRows`). */
  ownRowsBack: () => void;
}

export class PageReceiver {
  readonly #d: ReceiverDeps;

  constructor(d: ReceiverDeps) {
    this.#d = d;
  }

  onRows(m: Extract<SyncMsg, { s: "r" }>, from: string, addr: string, now: number): void {
    const { book, claims } = this.#d;
    const next: MarkEntry[] = [];
    for (const seg of m.g) {
      // A page that starts below our mark answers an older request: another page already
      // moved us on. Following it up too would run two streams of the same rows side by side
      // (a joining node received every row twice).
      const overtaken = book.get(seg.o) > seg.f;
      if (!this.#onSegment(seg, from)) claims.release(seg.o, addr);
      else if (!overtaken && claims.claim(seg.o, addr, now)) next.push(book.entry(seg.o));
    }
    // Keep streaming these origins from the same peer (a joining node's full-state transfer).
    if (next.length) sendMarks(this.#d.t, addr, { s: "w", bk: [], w: [], q: 0, c: 1 }, next, this.#d.config);
  }

  /** Apply one segment; true when the peer has more of this origin for us. */
  #onSegment(seg: Segment, from: string): boolean {
    const { book, stats } = this.#d;
    let future = false;
    for (const raw of seg.rows) {
      const [r] = this.#d.intake.ingest(raw, from);
      future ||= r === "future";
      stats.pageRows++;
      if (r === "stale") stats.pageStale++;
    }
    const mark = book.get(seg.o);
    // A refused future row is retried later, so the mark must not move past it.
    if (mark < seg.f || future) return false;
    if (seg.u > mark) book.set(seg.o, seg.u);
    book.chain(seg.o);
    if (seg.o === this.#d.self && seg.m === 0) this.#d.ownRowsBack();
    return seg.m === 1;
  }
}
