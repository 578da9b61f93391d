/**
 * Rendered documents per requester. Keyed like nova's cache (by source address, here together
 * with the network it arrived from; by uuid in proxy mode) and indexed by instance uuid so a
 * change event drops every entry of that instance at once. `ttlMs` bounds what is not evented;
 * entries and documents per entry are bounded (least recently used evicted first).
 */
import type { Doc } from "./documents.ts";
import type { InstanceView } from "./source.ts";

export interface CacheEntry {
  view: InstanceView;
  expiresAt: number;
  docs: Map<string, Doc>;
}

/** Documents kept per entry; a cloud-init crawl touches ~30 distinct paths. */
const MAX_DOCS = 128;

export class DocumentCache {
  readonly #entries = new Map<string, CacheEntry>();
  readonly #keysByUuid = new Map<string, Set<string>>();

  constructor(
    readonly ttlMs: number,
    readonly maxEntries: number,
  ) {}

  get size(): number {
    return this.#entries.size;
  }

  /** The live entry for `key`, or undefined (expired entries are dropped here). */
  get(key: string, nowMs: number): CacheEntry | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (nowMs >= entry.expiresAt) {
      this.#drop(key);
      return undefined;
    }
    return entry;
  }

  /** Starts an entry for a freshly resolved view (no-op when caching is disabled). */
  put(key: string, view: InstanceView, nowMs: number): CacheEntry {
    const entry: CacheEntry = { view, expiresAt: nowMs + this.ttlMs, docs: new Map() };
    if (this.ttlMs <= 0) return entry;
    this.#drop(key);
    if (this.#entries.size >= this.maxEntries) this.#evictOldest();
    this.#entries.set(key, entry);
    const uuid = view.instance.uuid;
    let keys = this.#keysByUuid.get(uuid);
    if (!keys) this.#keysByUuid.set(uuid, (keys = new Set()));
    keys.add(key);
    return entry;
  }

  /** Remembers a rendered document in `entry` (bounded). */
  remember(entry: CacheEntry, path: string, doc: Doc): void {
    if (this.ttlMs <= 0) return;
    if (entry.docs.size >= MAX_DOCS) entry.docs.delete(entry.docs.keys().next().value!);
    entry.docs.set(path, doc);
  }

  /** Drops every entry rendered for instance `uuid` (wire to instance/key/fip/sg/vif changes). */
  invalidate(uuid: string): void {
    for (const key of this.#keysByUuid.get(uuid) ?? []) this.#entries.delete(key);
    this.#keysByUuid.delete(uuid);
  }

  /** Drops everything (for changes whose instance is not known, e.g. a network edit). */
  invalidateAll(): void {
    this.#entries.clear();
    this.#keysByUuid.clear();
  }

  #drop(key: string): void {
    const old = this.#entries.get(key);
    if (!old) return;
    this.#entries.delete(key);
    const keys = this.#keysByUuid.get(old.view.instance.uuid);
    keys?.delete(key);
    if (keys && keys.size === 0) this.#keysByUuid.delete(old.view.instance.uuid);
  }

  #evictOldest(): void {
    const oldest = this.#entries.keys().next().value;
    if (oldest !== undefined) this.#drop(oldest);
  }
}
