/**
 * Cluster keys. One primary key encrypts; every installed key decrypts. A removed key keeps
 * decrypting (never encrypting, except in reply to a peer still using it) for a grace window,
 * so a node that was offline during a rotation can still reach the cluster, learn the new
 * keyring and switch. Keys are 32 random bytes (AES-256), shown as base64.
 */
import { createHash, randomBytes } from "node:crypto";

export const KEY_BYTES = 32;

interface Entry {
  key: Buffer;
  /** Time after which a removed key stops decrypting; null while installed. */
  retireAt: number | null;
}

export interface KeyInfo {
  id: number;
  key: string;
  primary: boolean;
  retireAt: number | null;
}

/** A fresh key as base64 (`netlet cluster keygen`). The only randomness here, by design. */
export function keygen(): string {
  return randomBytes(KEY_BYTES).toString("base64");
}

export function decodeKey(b64: string): Buffer {
  const k = Buffer.from(b64, "base64");
  if (k.length !== KEY_BYTES || k.toString("base64") !== b64) {
    throw new TypeError(`Cannot use key: expected ${KEY_BYTES} bytes of base64, got ${k.length} bytes`);
  }
  return k;
}

/** The key id carried in every packet header: the first byte of the key's SHA-256. */
export function keyId(key: Buffer): number {
  return createHash("sha256").update(key).digest()[0];
}

export class Keyring {
  readonly #keys = new Map<number, Entry>();
  #primary: number;

  /** `graceMs`: how long a removed key still decrypts. */
  constructor(
    primary: string,
    readonly graceMs = 24 * 3600_000,
  ) {
    const k = decodeKey(primary);
    this.#primary = keyId(k);
    this.#keys.set(this.#primary, { key: k, retireAt: null });
  }

  get primaryId(): number {
    return this.#primary;
  }

  primary(): { id: number; key: Buffer } {
    return { id: this.#primary, key: this.#keys.get(this.#primary)!.key };
  }

  /** A key able to decrypt at `now` (installed, or removed less than the grace window ago). */
  lookup(id: number, now: number): Buffer | undefined {
    const e = this.#keys.get(id);
    if (!e || (e.retireAt !== null && now >= e.retireAt)) return undefined;
    return e.key;
  }

  install(b64: string): number {
    const k = decodeKey(b64);
    const id = keyId(k);
    const cur = this.#keys.get(id);
    if (cur && !cur.key.equals(k))
      throw new RangeError(`Cannot install key: its id ${id} collides with an installed key; generate another`);
    this.#keys.set(id, { key: k, retireAt: null });
    return id;
  }

  use(b64: string): void {
    const id = keyId(decodeKey(b64));
    const e = this.#keys.get(id);
    if (!e || e.retireAt !== null) throw new RangeError("Cannot use key: install it first");
    this.#primary = id;
  }

  remove(b64: string, now: number): void {
    const id = keyId(decodeKey(b64));
    if (id === this.#primary) throw new RangeError("Cannot remove the primary key: use another key first");
    const e = this.#keys.get(id);
    if (e && e.retireAt === null) e.retireAt = now + this.graceMs;
  }

  /** Drop keys whose grace window is over. */
  expire(now: number): void {
    for (const [id, e] of this.#keys) if (e.retireAt !== null && now >= e.retireAt) this.#keys.delete(id);
  }

  list(): KeyInfo[] {
    return [...this.#keys].map(([id, e]) => ({
      id,
      key: e.key.toString("base64"),
      primary: id === this.#primary,
      retireAt: e.retireAt,
    }));
  }

  /** Persisted form (the caller writes it to the state directory with mode 0600). */
  toJSON(): { primary: string; keys: { key: string; retireAt: number | null }[] } {
    return {
      primary: this.primary().key.toString("base64"),
      keys: this.list().map((k) => ({ key: k.key, retireAt: k.retireAt })),
    };
  }

  static fromJSON(j: { primary: string; keys: { key: string; retireAt: number | null }[] }, graceMs?: number): Keyring {
    const r = new Keyring(j.primary, graceMs);
    for (const k of j.keys) {
      const id = r.install(k.key);
      if (k.retireAt !== null && id !== r.primaryId) r.#keys.get(id)!.retireAt = k.retireAt;
    }
    return r;
  }
}
