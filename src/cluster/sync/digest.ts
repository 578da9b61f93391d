/**
 * Cheap digests of sync progress. Each origin's mark ("complete up to") is capped at a cutoff
 * a little in the past, so updates still in flight through gossip do not count as a
 * difference; only gaps older than the cutoff trigger repair. Hashes are 32-bit FNV-1a,
 * combined by XOR so they can be computed per origin and cached.
 */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export const bucketOf = (origin: string, buckets: number): number => fnv1a(origin) % buckets;

interface Cached {
  mark: string;
  h: number;
}

export class MarkHasher {
  readonly #cache = new Map<string, Cached>();
  constructor(readonly buckets: number) {}

  /** Per-bucket XOR of hash(origin@min(mark, cap)); index `buckets` holds the total. */
  hash(marks: ReadonlyMap<string, string>, cap: string): number[] {
    const out = new Array<number>(this.buckets + 1).fill(0);
    for (const [o, m] of marks) {
      if (!m) continue;
      const h = this.#one(o, m < cap ? m : cap);
      const b = bucketOf(o, this.buckets);
      out[b] = (out[b] ^ h) >>> 0;
      out[this.buckets] = (out[this.buckets] ^ h) >>> 0;
    }
    return out;
  }

  #one(origin: string, capped: string): number {
    const key = `${origin}@${capped}`;
    const c = this.#cache.get(origin);
    if (c && c.mark === capped) return c.h;
    const h = fnv1a(key);
    if (this.#cache.size > 100_000) this.#cache.clear();
    this.#cache.set(origin, { mark: capped, h });
    return h;
  }
}
