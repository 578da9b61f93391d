/**
 * Hybrid logical clock (Kulkarni et al.): physical milliseconds plus a logical counter, so that
 * versions are monotonic on one node and causally ordered across nodes even when wall clocks
 * drift. Encoded as a fixed-width string ("000001763793600000.00042") so that SQLite and JS
 * compare versions with plain string order. Ties between nodes are broken by origin node id.
 */

export interface Hlc {
  ms: number;
  counter: number;
}

const MS_WIDTH = 15;
const COUNTER_WIDTH = 5;
const MAX_COUNTER = 10 ** COUNTER_WIDTH - 1;

export function encodeHlc(h: Hlc): string {
  return `${String(h.ms).padStart(MS_WIDTH, "0")}.${String(h.counter).padStart(COUNTER_WIDTH, "0")}`;
}

export function decodeHlc(s: string): Hlc {
  const m = /^(\d{15})\.(\d{5})$/.exec(s);
  if (!m)
    throw new SyntaxError(
      `Cannot decode HLC: "${s}" is not of the form ${"0".repeat(MS_WIDTH)}.${"0".repeat(COUNTER_WIDTH)}`,
    );
  return { ms: Number(m[1]), counter: Number(m[2]) };
}

/** A node's clock. `now` is injected so tests and the simulator are deterministic. */
export class HlcClock {
  #last: Hlc = { ms: 0, counter: 0 };
  constructor(
    readonly now: () => number = Date.now,
    readonly maxDriftMs = 60_000,
  ) {}

  /** A fresh version for a local write. */
  tick(): string {
    const pt = this.now();
    if (pt > this.#last.ms) this.#last = { ms: pt, counter: 0 };
    else this.#advanceCounter();
    return encodeHlc(this.#last);
  }

  /**
   * Merge a remote version (on receipt). A remote clock more than `maxDriftMs` ahead of our
   * physical time is refused, so one bad clock cannot drag the cluster into the future.
   */
  observe(remote: string): boolean {
    const r = decodeHlc(remote);
    const pt = this.now();
    if (r.ms - pt > this.maxDriftMs) return false;
    const ms = Math.max(this.#last.ms, r.ms, pt);
    let counter = 0;
    if (ms === this.#last.ms && ms === r.ms) counter = Math.max(this.#last.counter, r.counter) + 1;
    else if (ms === this.#last.ms) counter = this.#last.counter + 1;
    else if (ms === r.ms) counter = r.counter + 1;
    this.#last = { ms, counter: Math.min(counter, MAX_COUNTER) };
    return true;
  }

  #advanceCounter(): void {
    if (this.#last.counter >= MAX_COUNTER) this.#last = { ms: this.#last.ms + 1, counter: 0 };
    else this.#last = { ms: this.#last.ms, counter: this.#last.counter + 1 };
  }
}

/** Last-writer-wins order: HLC first, origin node id as the tiebreak. */
export function newerThan(a: { hlc: string; origin: string }, b: { hlc: string; origin: string }): boolean {
  if (a.hlc !== b.hlc) return a.hlc > b.hlc;
  return a.origin > b.origin;
}
