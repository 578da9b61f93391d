/**
 * Fragmentation of sync messages too large for one datagram (a row holding an RSA-8192 key is
 * ~1,740 bytes of JSON; one sealed packet carries ~1,200). Sans-IO: the caller serialises the
 * message, sends each fragment as its own payload and hands received ones to a `Reassembler`
 * with its own `now`.
 *
 * Wire form: `{ s: "f", id, n, of, d }`, JSON-safe and compact.
 *   s   "f" — the sync tag ("x" is already taken by the sync "drop origin" message).
 *   id  the caller's name for the message, unique per sender (e.g. origin + version), 1–200 chars.
 *   n   0-based index of this part; of = number of parts (1 ≤ of ≤ MAX_PARTS).
 *   d   the n-th slice of the serialised text, at most MAX_CHUNK_CHARS UTF-16 units.
 * Slices cut at exact unit offsets, so one may end inside a surrogate pair; JSON.stringify
 * writes a lone surrogate as a `\udXXX` escape and the joined text is whole again.
 * `chunkChars` counts units, not bytes: once the transport JSON-encodes `d`, a unit of text
 * produced by JSON.stringify costs 1 byte (ASCII), 2 (`"` and `\` are escaped) or up to 3
 * (non-ASCII), so size chunks for the worst case or measure the text first.
 */

/** Largest text reassembled: bounds what one sender can make us buffer per message. */
export const MAX_REASSEMBLED_CHARS = 64 * 1024;
export const MAX_ID_CHARS = 200;
/** Chunk size bounds; the lower one keeps the part count small for the largest text. */
export const MIN_CHUNK_CHARS = 200;
export const MAX_CHUNK_CHARS = 2000;
export const MAX_PARTS = Math.ceil(MAX_REASSEMBLED_CHARS / MIN_CHUNK_CHARS);
export const FRAGMENT_TAG = "f";

export interface FragmentMsg {
  s: typeof FRAGMENT_TAG;
  id: string;
  n: number;
  of: number;
  d: string;
}

/** Cut serialised `text` into fragments of `chunkChars` units. Throws RangeError on bad arguments (caller bugs). */
export function splitPayload(id: string, text: string, chunkChars: number): FragmentMsg[] {
  if (text.length > MAX_REASSEMBLED_CHARS) {
    throw new RangeError(`Cannot fragment ${text.length} chars: the limit is ${MAX_REASSEMBLED_CHARS}`);
  }
  if (!Number.isInteger(chunkChars) || chunkChars < MIN_CHUNK_CHARS || chunkChars > MAX_CHUNK_CHARS) {
    throw new RangeError(`Chunk size ${chunkChars} is outside ${MIN_CHUNK_CHARS}..${MAX_CHUNK_CHARS}`);
  }
  if (id.length < 1 || id.length > MAX_ID_CHARS) throw new RangeError(`Fragment id must be 1..${MAX_ID_CHARS} chars`);
  // An empty text still yields one (empty) part so the receiver sees the message.
  const of = Math.max(1, Math.ceil(text.length / chunkChars));
  const out: FragmentMsg[] = [];
  for (let n = 0; n < of; n++)
    out.push({ s: FRAGMENT_TAG, id, n, of, d: text.slice(n * chunkChars, (n + 1) * chunkChars) });
  return out;
}

/** Structural check of a received payload; never throws, whatever `data` is. */
export function isFragment(data: unknown): data is FragmentMsg {
  if (typeof data !== "object" || data === null) return false;
  const f = data as Record<string, unknown>;
  return (
    f.s === FRAGMENT_TAG &&
    typeof f.id === "string" &&
    f.id.length >= 1 &&
    f.id.length <= MAX_ID_CHARS &&
    Number.isInteger(f.of) &&
    (f.of as number) >= 1 &&
    (f.of as number) <= MAX_PARTS &&
    Number.isInteger(f.n) &&
    (f.n as number) >= 0 &&
    (f.n as number) < (f.of as number) &&
    typeof f.d === "string" &&
    f.d.length <= MAX_CHUNK_CHARS
  );
}

export interface ReassemblerLimits {
  /** Partial messages buffered at once, over all senders. */
  maxInFlight?: number;
  /** Chars buffered in partial messages, over all senders. */
  maxBytes?: number;
  /** A partial message older than this is dropped: its missing parts are presumed lost. */
  ttlMs?: number;
}

export interface ReassemblerStats {
  completed: number;
  malformed: number;
  expired: number;
  evicted: number;
}

interface Partial {
  readonly of: number;
  readonly parts: (string | undefined)[];
  readonly born: number;
  got: number;
  chars: number;
}

/**
 * Joins fragments back into texts, per (sender, id). Memory is bounded by maxInFlight and
 * maxBytes: when either would be exceeded the oldest partial message goes first, since it is
 * the likeliest to have lost a part. Duplicates that arrive after completion start a new
 * partial that simply expires: remembering completed ids would swallow a legitimate resend.
 */
export class Reassembler {
  readonly stats: ReassemblerStats = { completed: 0, malformed: 0, expired: 0, evicted: 0 };
  readonly #maxInFlight: number;
  readonly #maxBytes: number;
  readonly #ttlMs: number;
  /** Insertion order is age order, so the first entry is the one to evict. */
  readonly #partials = new Map<string, Partial>();
  #chars = 0;

  constructor(limits: ReassemblerLimits = {}) {
    this.#maxInFlight = Math.max(1, limits.maxInFlight ?? 16);
    this.#maxBytes = Math.max(1, limits.maxBytes ?? 256 * 1024);
    this.#ttlMs = limits.ttlMs ?? 10_000;
  }

  /** Partial messages currently buffered, and their chars (for gauges and tests). */
  get inFlight(): number {
    return this.#partials.size;
  }
  get bufferedChars(): number {
    return this.#chars;
  }

  /** Feed one received fragment (validated here: `f` may be anything); the whole text once complete. */
  add(from: string, f: FragmentMsg, now: number): string | null {
    this.expire(now);
    const raw = f as unknown;
    if (!isFragment(raw)) {
      // A bad part poisons its message: drop what we hold of it rather than wait for the TTL.
      const id = typeof raw === "object" && raw !== null ? (raw as { id?: unknown }).id : undefined;
      return this.#malformed(typeof id === "string" ? key(from, id) : "");
    }
    const k = key(from, f.id);
    let p = this.#partials.get(k);
    if (p && p.of !== f.of) return this.#malformed(k);
    if (!p) {
      p = { of: f.of, parts: new Array(f.of), born: now, got: 0, chars: 0 };
      this.#partials.set(k, p);
    }
    if (p.parts[f.n] !== undefined) return null; // duplicate
    if (p.chars + f.d.length > MAX_REASSEMBLED_CHARS) return this.#malformed(k);
    p.parts[f.n] = f.d;
    p.got++;
    p.chars += f.d.length;
    this.#chars += f.d.length;
    if (p.got === p.of) {
      this.#drop(k);
      this.stats.completed++;
      return p.parts.join("");
    }
    this.#evictOver();
    return null;
  }

  /** Drop partial messages older than the TTL. Safe to call on any timer. */
  expire(now: number): void {
    for (const [k, p] of this.#partials) {
      if (now - p.born <= this.#ttlMs) continue;
      this.#drop(k);
      this.stats.expired++;
    }
  }

  // The entry just added is the newest, so it is evicted only when it alone breaks a bound.
  #evictOver(): void {
    while (this.#partials.size > this.#maxInFlight || this.#chars > this.#maxBytes) {
      const oldest = this.#partials.keys().next().value as string;
      this.#drop(oldest);
      this.stats.evicted++;
    }
  }

  #malformed(k: string): null {
    this.stats.malformed++;
    this.#drop(k);
    return null;
  }

  #drop(k: string): void {
    const p = this.#partials.get(k);
    if (!p) return;
    this.#chars -= p.chars;
    this.#partials.delete(k);
  }
}

/** Length-prefixed so no (from, id) pair can collide with another, whatever characters they hold. */
const key = (from: string, id: string): string => `${from.length}:${from}${id}`;
