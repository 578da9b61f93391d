/**
 * Per-origin progress marks. A mark says "I hold every write of this origin up to here (or
 * something newer)". It advances on a delta whose `prev` equals it, or on a page that starts
 * at or below it (and then along the out-of-order rows already held). Out-of-order deltas are
 * kept as `prev → hlc` links until the gap before them fills.
 */
import { MAX_HELD, type SyncMsg } from "./messages.ts";
import type { ReplicaStore } from "../../replication/replica-store.ts";

/** One origin in a marks message: its mark, and the versions held beyond it. */
export type MarkEntry = Extract<SyncMsg, { s: "w" }>["w"][number];

/**
 * The marks saved in the store, and our own origin's: our newest row, or nothing while our
 * rows are still to be pulled back from peers (a new state directory).
 */
export function loadMarks(store: ReplicaStore, self: string, recovering: boolean): Map<string, string> {
  const marks = new Map(Object.entries(store.loadMarks()));
  const own = store.heads().get(self);
  if (recovering) marks.delete(self);
  else if (own && own > (marks.get(self) ?? "")) marks.set(self, own);
  return marks;
}

export class MarkBook {
  /** Origin → mark; read by the digest (see `digest.ts`). */
  readonly marks: Map<string, string>;
  /** Out-of-order links per origin, `prev → hlc`, at most `maxPending` in all. */
  readonly #pending = new Map<string, Map<string, string>>();
  #pendingCount = 0;
  readonly #maxPending: number;
  /** A mark moved since the last save. */
  #dirty = false;

  constructor(marks: Map<string, string>, maxPending: number) {
    this.marks = marks;
    this.#maxPending = maxPending;
  }

  get(origin: string): string {
    return this.marks.get(origin) ?? "";
  }

  set(origin: string, hlc: string): void {
    this.marks.set(origin, hlc);
    this.#dirty = true;
  }

  /** Forget an origin and its links (a peer told us we are too far behind to repair). */
  forget(origin: string): void {
    this.marks.delete(origin);
    this.#pendingCount -= this.#pending.get(origin)?.size ?? 0;
    this.#pending.delete(origin);
  }

  /** The marks to save, when any moved since the last call. */
  takeDirty(): Record<string, string> | undefined {
    const out = this.#dirty ? Object.fromEntries(this.marks) : undefined;
    this.#dirty = false;
    return out;
  }

  /** Chain the mark forward through `prev → hlc` links, buffering links that arrive early. */
  advance(origin: string, prev: string, hlc: string): void {
    let mark = this.get(origin);
    if (hlc <= mark) return;
    if (prev > mark) return this.#hold(origin, prev, hlc);
    mark = hlc;
    const links = this.#pending.get(origin);
    while (links?.has(mark)) {
      const next = links.get(mark)!;
      links.delete(mark);
      this.#pendingCount--;
      mark = next > mark ? next : mark;
    }
    this.set(origin, mark);
  }

  /** Keep an early link; when too many are kept, all are dropped (repair fills the gaps). */
  #hold(origin: string, prev: string, hlc: string): void {
    let links = this.#pending.get(origin);
    if (!links) this.#pending.set(origin, (links = new Map()));
    if (this.#pendingCount >= this.#maxPending) {
      this.#pending.clear();
      this.#pendingCount = 0;
      return;
    }
    if (!links.has(prev)) this.#pendingCount++;
    links.set(prev, hlc);
  }

  /**
   * After a page moved a mark, rows that arrived out of order right after it extend it: a link
   * `prev → hlc` with prev at or below the mark means nothing lies between the mark and hlc.
   */
  chain(origin: string): void {
    const links = this.#pending.get(origin);
    if (!links) return;
    let mark = this.get(origin);
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
    if (mark > this.get(origin)) this.set(origin, mark);
  }

  /** Our mark for `origin`, plus the versions we already hold beyond it. */
  entry(origin: string): MarkEntry {
    const mark = this.get(origin);
    const links = this.#pending.get(origin);
    if (!links?.size) return [origin, mark];
    const held = [...links.values()]
      .filter((h) => h > mark)
      .sort()
      .slice(0, MAX_HELD);
    return held.length ? [origin, mark, held] : [origin, mark];
  }
}
