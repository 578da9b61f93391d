/**
 * Token buckets with an injected clock: a bucket holds `burst` tokens and refills at
 * `perSecond`. Time going backwards (a wall clock stepped back) refills nothing and drains
 * nothing. The keyed table is bounded: when full, the least recently seen key is forgotten
 * first (Map order), which at worst gives a flooding key a fresh bucket, never unbounded memory.
 */

export interface Bucket {
  tokens: number;
  at: number;
}

/** Refill `b` for the time since it was last used, then take one token if there is one. */
export function takeToken(b: Bucket, now: number, perSecond: number, burst: number): boolean {
  b.tokens = Math.min(burst, b.tokens + (Math.max(0, now - b.at) / 1000) * perSecond);
  b.at = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

/** One bucket per key (a MAC, a source address), at most `maxKeys` of them. */
export class KeyedTokenBuckets {
  readonly #buckets = new Map<string, Bucket>();

  constructor(
    readonly perSecond: number,
    readonly burst: number,
    readonly maxKeys: number,
  ) {}

  /** Takes one token for `key` at `now` (ms); false means the caller must refuse or drop. */
  take(key: string, now: number): boolean {
    let b = this.#buckets.get(key);
    if (b) this.#buckets.delete(key);
    else {
      if (this.#buckets.size >= this.maxKeys) this.#buckets.delete(this.#buckets.keys().next().value as string);
      b = { tokens: this.burst, at: now };
    }
    // Re-inserted so that Map order is least recently seen first.
    this.#buckets.set(key, b);
    return takeToken(b, now, this.perSecond, this.burst);
  }

  get size(): number {
    return this.#buckets.size;
  }
}
