/**
 * Per-source token buckets: a guest that floods its resolver is slowed down without costing
 * the others theirs. The table is bounded; when it is full, sources idle for a full refill are
 * forgotten first, else the oldest entry.
 */
export interface RateLimitOptions {
  /** Queries per second per source; 0 disables the limit. */
  perSecond: number;
  burst: number;
  maxSources: number;
}

export class SourceLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(readonly opts: RateLimitOptions) {}

  allow(source: string, now: number): boolean {
    const { perSecond, burst } = this.opts;
    if (perSecond <= 0) return true;
    let b = this.#buckets.get(source);
    if (!b) {
      if (this.#buckets.size >= this.opts.maxSources) this.#evict(now);
      b = { tokens: burst, at: now };
      this.#buckets.set(source, b);
    } else {
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond);
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  #evict(now: number): void {
    const idle = (this.opts.burst / this.opts.perSecond) * 1000;
    for (const [k, b] of this.#buckets) if (now - b.at >= idle) this.#buckets.delete(k);
    if (this.#buckets.size >= this.opts.maxSources) this.#buckets.delete(this.#buckets.keys().next().value!);
  }
}
