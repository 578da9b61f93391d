/**
 * Token-bucket rate limits, global and per MAC, with an injected clock. The per-MAC table is
 * bounded (src/util/token-buckets.ts): when full, the least recently seen MAC is forgotten
 * first, which at worst gives a flooding MAC a fresh bucket, never unbounded memory.
 */
import { type Bucket, KeyedTokenBuckets, takeToken } from "../util/token-buckets.ts";

export interface RateLimits {
  /** Packets per second over all clients of one bridge, and the burst allowed above it. */
  globalRate: number;
  globalBurst: number;
  /** Packets per second per MAC, and its burst. A booting guest sends a handful. */
  macRate: number;
  macBurst: number;
  /** Most MACs tracked at once. */
  maxMacs: number;
}

export const DEFAULT_LIMITS: RateLimits = {
  globalRate: 20_000,
  globalBurst: 4_000,
  macRate: 8,
  macBurst: 32,
  maxMacs: 16_384,
};

export class RateLimiter {
  readonly #global: Bucket;
  readonly #macs: KeyedTokenBuckets;

  constructor(
    readonly limits: RateLimits = DEFAULT_LIMITS,
    now = 0,
  ) {
    this.#global = { tokens: limits.globalBurst, at: now };
    this.#macs = new KeyedTokenBuckets(limits.macRate, limits.macBurst, limits.maxMacs);
  }

  /** One packet, before decoding. */
  allowGlobal(now: number): boolean {
    return takeToken(this.#global, now, this.limits.globalRate, this.limits.globalBurst);
  }

  /** One packet from `mac`. */
  allowMac(mac: string, now: number): boolean {
    return this.#macs.take(mac, now);
  }

  get trackedMacs(): number {
    return this.#macs.size;
  }
}
