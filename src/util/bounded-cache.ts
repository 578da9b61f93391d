/**
 * A bounded memo with least-recently-used eviction, approximated in two generations: entries go
 * into the young map; when it holds half the capacity it becomes the old map and the previous
 * old map is dropped. A hit in the old map moves the entry back to the young one, so an entry
 * in use survives every rotation and one left unused is gone within two: no cliff where a full
 * cache forgets everything at once. A hit in the young map is one Map lookup; exact LRU (delete
 * and re-insert on every hit) measured about ten times slower per hit, too slow for memos read
 * tens of thousands of times per dataplane render. Never more than `max` entries. Values must
 * not be `undefined` (it means "absent"); `null` is fine.
 */
export class BoundedCache<K, V> {
  #young = new Map<K, V>();
  #old = new Map<K, V>();
  readonly #half: number;

  constructor(readonly max: number) {
    this.#half = Math.max(1, Math.floor(max / 2));
  }

  get(key: K): V | undefined {
    const v = this.#young.get(key);
    if (v !== undefined) return v;
    const o = this.#old.get(key);
    if (o === undefined) return undefined;
    this.#old.delete(key);
    this.#put(key, o);
    return o;
  }

  set(key: K, value: V): void {
    this.#old.delete(key);
    this.#put(key, value);
  }

  get size(): number {
    return this.#young.size + this.#old.size;
  }

  clear(): void {
    this.#young = new Map();
    this.#old = new Map();
  }

  #put(key: K, value: V): void {
    if (this.#young.size >= this.#half && !this.#young.has(key)) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(key, value);
  }
}
