/**
 * Transmit-limited broadcast queue. Items are JSON message texts keyed so that a newer message
 * about the same subject (a member, a row) replaces the older one. Packets take the items that
 * were sent the fewest times first, newest first among equals; an item leaves the queue after
 * `limit` transmits. The queue is bounded: when full, the most-transmitted, oldest item goes.
 */
interface Item {
  key: string;
  text: string;
  bytes: number;
  transmits: number;
  live: boolean;
}

/** No message is smaller than this; a packet with less room left is full. */
const MIN_ITEM = 16;

export class TransmitQueue {
  /** buckets[t] holds items sent t times, oldest first. Dead entries are skipped lazily. */
  readonly #buckets: Item[][] = [];
  readonly #byKey = new Map<string, Item>();
  dropped = 0;

  constructor(readonly maxItems: number) {}

  get size(): number {
    return this.#byKey.size;
  }

  push(key: string, text: string): void {
    const old = this.#byKey.get(key);
    if (old) old.live = false;
    else if (this.#byKey.size >= this.maxItems) this.#dropOne();
    const item = { key, text, bytes: Buffer.byteLength(text), transmits: 0, live: true };
    this.#byKey.set(key, item);
    this.#bucket(0).push(item);
  }

  /** Remove the item for a key (its subject is settled). */
  forget(key: string): void {
    const old = this.#byKey.get(key);
    if (old) old.live = false;
    this.#byKey.delete(key);
  }

  /**
   * Take items whose texts fit in `budget` bytes (each costs its length plus `sep`), counting
   * one transmit for each; items that reach `limit` are removed.
   */
  take(budget: number, limit: number, sep = 1): string[] {
    const out: string[] = [];
    const moved: Item[] = [];
    for (let t = 0; t < this.#buckets.length && budget > MIN_ITEM; t++) {
      const b = this.#buckets[t];
      let took = false;
      for (let i = b.length - 1; i >= 0 && budget > MIN_ITEM; i--) {
        const it = b[i];
        if (!it.live || it.bytes + sep > budget) continue;
        budget -= it.bytes + sep;
        out.push(it.text);
        it.live = false;
        moved.push(it);
        took = true;
      }
      // Replaced items linger as dead entries; sweep them when this bucket changed or grew.
      if (took || b.length > 2 * this.maxItems) this.#buckets[t] = b.filter((x) => x.live);
    }
    for (const it of moved) {
      if (this.#byKey.get(it.key) !== it) continue;
      const next = { ...it, transmits: it.transmits + 1, live: true };
      if (next.transmits >= limit) {
        this.#byKey.delete(it.key);
        continue;
      }
      this.#byKey.set(it.key, next);
      this.#bucket(next.transmits).push(next);
    }
    return out;
  }

  #bucket(t: number): Item[] {
    while (this.#buckets.length <= t) this.#buckets.push([]);
    return this.#buckets[t];
  }

  #dropOne(): void {
    for (let t = this.#buckets.length - 1; t >= 0; t--) {
      const b = this.#buckets[t];
      while (b.length) {
        const it = b.shift()!;
        if (!it.live) continue;
        it.live = false;
        this.#byKey.delete(it.key);
        this.dropped++;
        return;
      }
    }
  }
}
