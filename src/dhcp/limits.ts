/**
 * Token-bucket rate limits, global and per MAC, with an injected clock. The per-MAC table is
 * bounded: when full, the least recently refilled entries are forgotten first (Map order), which
 * at worst gives a flooding MAC a fresh bucket, never unbounded memory.
 */

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

interface Bucket {
  tokens: number;
  at: number;
}

function take(b: Bucket, now: number, rate: number, burst: number): boolean {
  b.tokens = Math.min(burst, b.tokens + (Math.max(0, now - b.at) / 1000) * rate);
  b.at = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

export class RateLimiter {
  readonly #global: Bucket;
  readonly #macs = new Map<string, Bucket>();

  constructor(readonly limits: RateLimits = DEFAULT_LIMITS, now = 0) {
    this.#global = { tokens: limits.globalBurst, at: now };
  }

  /** One packet, before decoding. */
  allowGlobal(now: number): boolean {
    return take(this.#global, now, this.limits.globalRate, this.limits.globalBurst);
  }

  /** One packet from `mac`. */
  allowMac(mac: string, now: number): boolean {
    let b = this.#macs.get(mac);
    if (b) this.#macs.delete(mac);
    else {
      b = { tokens: this.limits.macBurst, at: now };
      if (this.#macs.size >= this.limits.maxMacs) this.#macs.delete(this.#macs.keys().next().value as string);
    }
    // Re-insert so that Map order is least-recently-seen first.
    this.#macs.set(mac, b);
    return take(b, now, this.limits.macRate, this.limits.macBurst);
  }

  get trackedMacs(): number {
    return this.#macs.size;
  }
}
