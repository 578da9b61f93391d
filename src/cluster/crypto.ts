/**
 * Packet encryption: AES-256-GCM with a per-sender subkey and a counter nonce.
 *
 * Header (authenticated, sent in clear):
 *   version u8 | key id u8 | sender length u8 | sender id | generation u32 | epoch u64 | counter u32
 * then ciphertext and a 16-byte tag. The cluster name and the whole header are the associated
 * data. The subkey is HKDF(cluster key, cluster name, sender ‖ generation), so two senders never
 * share a (key, nonce) pair; the nonce is epoch ‖ counter, where the epoch is the sender's boot
 * time in ms and moves on whenever the counter wraps. No random nonces: there is no birthday
 * budget to run out of. Receivers keep a sliding replay window per sender.
 */
import { createCipheriv, createDecipheriv, hkdfSync } from "node:crypto";
import type { Keyring } from "./keyring.ts";

export const VERSION = 1;
const TAG = 16;
const FIXED = 3 + 4 + 8 + 4;
/** Largest UDP payload we accept or emit. */
export const MAX_PACKET = 1472;
const WINDOW = 1024;

export type OpenError = "short" | "version" | "unknown-key" | "auth" | "replay" | "stale-generation" | "oversize";
export type Opened =
  | { ok: true; sender: string; generation: number; keyId: number; plain: Buffer }
  | { ok: false; error: OpenError };

export interface HighWater {
  sender: string;
  generation: number;
  epoch: number;
  top: number;
}

/** Per (sender, generation): newest epoch and counter seen and a bitmap of recent counters. */
interface Window {
  generation: number;
  epoch: number;
  top: number;
  seen: Uint8Array;
}

export class PacketCrypto {
  readonly #subkeys = new Map<string, Buffer>();
  readonly #windows = new Map<string, Window>();
  readonly #name: Buffer;
  #epoch: number;
  #counter = 0;
  /** Rejections by reason, for the metrics registry. */
  readonly rejected: Record<OpenError, number> = {
    short: 0,
    version: 0,
    "unknown-key": 0,
    auth: 0,
    replay: 0,
    "stale-generation": 0,
    oversize: 0,
  };

  /**
   * `bootMs` seeds the nonce epoch: it must be above any epoch this sender used before with
   * the same generation (wall-clock ms at start; the caller may persist and pass max(last+1, now)).
   */
  constructor(
    readonly keyring: Keyring,
    readonly clusterName: string,
    readonly sender: string,
    readonly generation: number,
    bootMs: number,
    readonly maxSenders = 65_536,
  ) {
    if (Buffer.byteLength(sender) > 255) throw new RangeError("Cannot use sender id: longer than 255 bytes");
    this.#name = Buffer.from(clusterName);
    this.#epoch = bootMs;
  }

  get epoch(): number {
    return this.#epoch;
  }

  /** Encrypt one packet; `keyId` overrides the primary (reply to a peer on a retiring key). */
  seal(plain: Uint8Array, now: number, keyId?: number): Buffer {
    const key = keyId !== undefined ? this.keyring.lookup(keyId, now) : undefined;
    const k = key ? { id: keyId!, key } : this.keyring.primary();
    if (this.#counter >= 0xffff_ffff) {
      this.#epoch += 1;
      this.#counter = 0;
    }
    const counter = this.#counter++;
    const header = this.#header(k.id, this.#epoch, counter);
    if (header.length + plain.length + TAG > MAX_PACKET)
      throw new RangeError(`Cannot seal ${plain.length} bytes: the packet limit is ${MAX_PACKET}`);
    const c = createCipheriv(
      "aes-256-gcm",
      this.#subkey(k.key, this.sender, this.generation),
      nonceOf(this.#epoch, counter),
    );
    c.setAAD(Buffer.concat([this.#name, header]));
    const body = c.update(plain);
    c.final();
    return Buffer.concat([header, body, c.getAuthTag()]);
  }

  open(pkt: Uint8Array, now: number): Opened {
    const fail = (error: OpenError): Opened => {
      this.rejected[error]++;
      return { ok: false, error };
    };
    if (pkt.length > MAX_PACKET) return fail("oversize");
    if (pkt.length < FIXED + TAG + 1) return fail("short");
    const b = Buffer.from(pkt.buffer, pkt.byteOffset, pkt.length);
    if (b[0] !== VERSION) return fail("version");
    const idLen = b[2];
    const hlen = FIXED + idLen;
    if (idLen === 0 || b.length < hlen + TAG) return fail("short");
    const key = this.keyring.lookup(b[1], now);
    if (!key) return fail("unknown-key");
    const sender = b.toString("utf8", 3, 3 + idLen);
    const generation = b.readUInt32BE(3 + idLen);
    const epoch = Number(b.readBigUInt64BE(7 + idLen));
    const counter = b.readUInt32BE(15 + idLen);
    const plain = this.#decrypt(key, b, hlen, sender, generation, epoch, counter);
    if (!plain) return fail("auth");
    // The replay check comes after authentication so forged headers cannot poison the window.
    const verdict = this.#admit(sender, generation, epoch, counter);
    if (verdict) return fail(verdict);
    return { ok: true, sender, generation, keyId: b[1], plain };
  }

  #decrypt(
    key: Buffer,
    b: Buffer,
    hlen: number,
    sender: string,
    gen: number,
    epoch: number,
    counter: number,
  ): Buffer | null {
    try {
      const d = createDecipheriv("aes-256-gcm", this.#subkey(key, sender, gen), nonceOf(epoch, counter));
      d.setAAD(Buffer.concat([this.#name, b.subarray(0, hlen)]));
      d.setAuthTag(b.subarray(b.length - TAG));
      const out = d.update(b.subarray(hlen, b.length - TAG));
      d.final();
      return out;
    } catch {
      return null;
    }
  }

  /** Newest (generation, epoch, counter) accepted per sender: persisted so a restart keeps refusing replays. */
  marks(): HighWater[] {
    return [...this.#windows].map(([sender, w]) => ({ sender, generation: w.generation, epoch: w.epoch, top: w.top }));
  }

  /**
   * After a restart: everything at or below each sender's saved mark counts as seen, so
   * datagrams captured before the restart are refused; anything newer is accepted as usual.
   */
  restoreMarks(marks: readonly HighWater[]): void {
    for (const m of marks.slice(0, this.maxSenders)) {
      const w = this.#windows.get(m.sender);
      if (w && (w.generation > m.generation || (w.generation === m.generation && w.epoch >= m.epoch))) continue;
      this.#windows.set(m.sender, {
        generation: m.generation,
        epoch: m.epoch,
        top: m.top,
        seen: new Uint8Array(WINDOW / 8).fill(0xff),
      });
    }
  }

  #admit(sender: string, generation: number, epoch: number, counter: number): "replay" | "stale-generation" | null {
    let w = this.#windows.get(sender);
    if (w && generation < w.generation) return "stale-generation";
    if (!w || generation > w.generation || epoch > w.epoch) {
      if (!w && this.#windows.size >= this.maxSenders) this.#windows.delete(this.#windows.keys().next().value!);
      w = { generation, epoch, top: counter, seen: new Uint8Array(WINDOW / 8) };
      this.#windows.set(sender, w);
      mark(w, counter);
      return null;
    }
    if (epoch < w.epoch || counter + WINDOW <= w.top) return "replay";
    if (counter > w.top) {
      for (let c = Math.max(w.top + 1, counter - WINDOW + 1); c <= counter; c++) unmark(w, c);
      w.top = counter;
    } else if (isMarked(w, counter)) return "replay";
    mark(w, counter);
    return null;
  }

  #header(id: number, epoch: number, counter: number): Buffer {
    const s = Buffer.from(this.sender);
    const h = Buffer.alloc(FIXED + s.length);
    h[0] = VERSION;
    h[1] = id;
    h[2] = s.length;
    s.copy(h, 3);
    h.writeUInt32BE(this.generation, 3 + s.length);
    h.writeBigUInt64BE(BigInt(epoch), 7 + s.length);
    h.writeUInt32BE(counter, 15 + s.length);
    return h;
  }

  #subkey(key: Buffer, sender: string, generation: number): Buffer {
    const tag = `${key.toString("base64")}|${sender}|${generation}`;
    let k = this.#subkeys.get(tag);
    if (!k) {
      k = Buffer.from(hkdfSync("sha256", key, this.#name, Buffer.from(`netlet gossip ${sender} ${generation}`), 32));
      if (this.#subkeys.size > this.maxSenders) this.#subkeys.clear();
      this.#subkeys.set(tag, k);
    }
    return k;
  }
}

function nonceOf(epoch: number, counter: number): Buffer {
  const n = Buffer.alloc(12);
  n.writeBigUInt64BE(BigInt(epoch), 0);
  n.writeUInt32BE(counter, 8);
  return n;
}

const mark = (w: Window, c: number) => (w.seen[(c % WINDOW) >> 3] |= 1 << (c & 7));
const unmark = (w: Window, c: number) => (w.seen[(c % WINDOW) >> 3] &= ~(1 << (c & 7)));
const isMarked = (w: Window, c: number) => (w.seen[(c % WINDOW) >> 3] & (1 << (c & 7))) !== 0;
