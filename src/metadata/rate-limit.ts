/**
 * Per-source token bucket with an injected clock. A bucket holds `burst` tokens and refills at
 * `perSecond`; the table is bounded, forgetting the least recently seen source first (a
 * forgotten source simply starts again with a full bucket).
 */

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();

  constructor(readonly perSecond: number, readonly burst: number, readonly maxSources: number) {}

  /** Takes one token for `source` at `nowMs`; false means the request must be refused (429). */
  take(source: string, nowMs: number): boolean {
    let b = this.#buckets.get(source);
    if (b) {
      this.#buckets.delete(source); // re-inserted below: Map order is recency order
      b.tokens = Math.min(this.burst, b.tokens + ((nowMs - b.at) / 1000) * this.perSecond);
      b.at = nowMs;
    } else {
      if (this.#buckets.size >= this.maxSources) this.#buckets.delete(this.#buckets.keys().next().value!);
      b = { tokens: this.burst, at: nowMs };
    }
    this.#buckets.set(source, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
