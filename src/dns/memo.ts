/**
 * Encoded replies by query: the hot path. A guest asking the same question again (the same
 * bytes after the ID: flags, question, EDNS0 record, and the same transport) gets the stored
 * reply with its ID put in and its TTLs counted down, without decoding, deciding or encoding
 * again. Zone answers live until the zone changes (the owner clears the memo); forwarded
 * answers as long as the cache would keep them. Bounded: the oldest entry goes first. Pure:
 * time is passed in.
 */
import type { Rcode } from "./answer.ts";

export interface MemoLabels {
  type: string;
  rcode: Rcode;
  source: "zone" | "cache" | "upstream" | "policy";
  /** The query counter for these labels, bound once. */
  count: { inc(): void };
}

interface Entry {
  bytes: Uint8Array;
  /** Offsets of the TTL fields to count down (answer and authority records), and their values when stored. */
  ttlAt: number[];
  ttls: number[];
  storedAt: number;
  expiresAt: number;
  labels: MemoLabels;
}

/** Skips a wire-format name (labels and compression pointers); -1 when malformed. */
function skipName(b: Uint8Array, i: number): number {
  while (i < b.length) {
    const len = b[i];
    if (len === 0) return i + 1;
    if ((len & 0xc0) === 0xc0) return i + 2;
    i += len + 1;
  }
  return -1;
}

/** Offsets of the TTLs of the answer and authority records of an encoded message. */
export function ttlOffsets(b: Uint8Array): number[] | null {
  if (b.length < 12) return null;
  const qd = (b[4] << 8) | b[5],
    an = (b[6] << 8) | b[7],
    ns = (b[8] << 8) | b[9];
  let i = 12;
  for (let q = 0; q < qd; q++) {
    i = skipName(b, i);
    if (i < 0) return null;
    i += 4;
  }
  const out: number[] = [];
  for (let r = 0; r < an + ns; r++) {
    i = skipName(b, i);
    if (i < 0 || i + 10 > b.length) return null;
    out.push(i + 4);
    i += 10 + ((b[i + 8] << 8) | b[i + 9]);
  }
  return i <= b.length ? out : null;
}

/**
 * Entries are found by a seeded hash of the query bytes after the ID (cheaper than a string
 * key) and then compared byte for byte, so a collision is only a miss, never a wrong answer; the
 * random seed keeps a guest from aiming collisions at another guest's entries.
 */
export class ReplyMemo {
  readonly #entries = new Map<number, Entry & { query: Uint8Array }>();
  readonly #seed = (Math.random() * 0x100000000) >>> 0;

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.#entries.size;
  }

  key(query: Uint8Array, tcp: boolean): number {
    let h = this.#seed ^ (tcp ? 0x5bd1e995 : 0);
    for (let i = 2; i < query.length; i++) h = Math.imul(h ^ query[i], 0x01000193);
    return h >>> 0;
  }

  /**
   * The stored reply for this query, with its ID and TTLs written in, or null. The bytes are the
   * memo's own: send them at once (a datagram send copies them) or copy them.
   */
  get(key: number, query: Uint8Array, now: number): { bytes: Uint8Array; labels: MemoLabels } | null {
    const e = this.#entries.get(key);
    if (!e || !sameTail(e.query, query)) return null;
    if (e.expiresAt <= now) {
      this.#entries.delete(key);
      return null;
    }
    const out = e.bytes;
    out[0] = query[0];
    out[1] = query[1];
    if (e.ttlAt.length) {
      // Always from the TTLs as stored, so answers never count down twice.
      const age = Math.floor((now - e.storedAt) / 1000);
      const v = new DataView(out.buffer, out.byteOffset, out.length);
      for (let i = 0; i < e.ttlAt.length; i++) v.setUint32(e.ttlAt[i], Math.max(0, e.ttls[i] - age));
    }
    return { bytes: out, labels: e.labels };
  }

  /**
   * Keeps `bytes` as the reply to `query` for `ttlMs`: Infinity for the zone's own answers, kept
   * until cleared with their TTLs as they are; a finite time for forwarded ones, whose TTLs count
   * down; 0 not at all.
   */
  put(key: number, query: Uint8Array, bytes: Uint8Array, labels: MemoLabels, now: number, ttlMs: number): void {
    if (ttlMs <= 0) return;
    const offsets = ttlOffsets(bytes);
    if (!offsets) return;
    const ttlAt = ttlMs === Infinity ? [] : offsets;
    // Own copies: a Buffer's slice() would share memory with the caller's.
    const own = new Uint8Array(bytes);
    const v = new DataView(own.buffer);
    const ttls = ttlAt.map((at) => v.getUint32(at));
    if (!this.#entries.has(key) && this.#entries.size >= this.maxEntries)
      this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, {
      query: new Uint8Array(query),
      bytes: own,
      ttlAt,
      ttls,
      storedAt: now,
      expiresAt: now + ttlMs,
      labels,
    });
  }

  clear(): void {
    this.#entries.clear();
  }
}

/** Equal after the two ID bytes. */
function sameTail(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 2; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
