/**
 * Transmit-limited broadcast queue. Items are JSON message texts keyed so that a newer message
 * about the same subject (a member, a row) replaces the older one. Packets take the items that
 * were sent the fewest times first, newest first among equals; an item leaves the queue after
 * `limit` transmits.
 *
 * Two lanes: membership items always go first, payloads of the layers above (row deltas) fill
 * what room is left, so a write storm can never delay a suspicion or its refutation. The queue
 * is bounded as a whole and the payload lane on its own: when full, the most-transmitted,
 * oldest payload goes first. Payloads that could not be pushed are repaired by state sync's
 * digests, while a dropped membership message would cost a false suspicion.
 */
interface Item {
  key: string;
  text: string;
  bytes: number;
  transmits: number;
  live: boolean;
}

export type Lane = "member" | "payload";

/** No message is smaller than this; a packet with less room left is full. */
const MIN_ITEM = 16;

/**
 * Payloads kept at most. Gossip delivers about a hundred deltas a second per node; a backlog
 * older than a few seconds is cheaper to repair by digest than to keep pushing.
 */
export const PAYLOAD_LANE_MAX = 256;

/**
 * Payload bytes per packet beyond the first payload. Every membership packet (probe, ack,
 * indirect request) carries piggybacked payloads, so without a cap payload bandwidth would
 * grow with membership traffic (lossy links mean more probes). One payload always fits if
 * the packet has room, so a large one (a keyring document) is never starved.
 */
export const PAYLOAD_PER_PACKET = 800;

/** One lane: items bucketed by transmit count. */
class Bucketed {
  /** buckets[t] holds items sent t times, oldest first. Dead entries are skipped lazily. */
  readonly #buckets: Item[][] = [];
  readonly byKey = new Map<string, Item>();

  push(key: string, text: string): void {
    const old = this.byKey.get(key);
    if (old) old.live = false;
    const item = { key, text, bytes: Buffer.byteLength(text), transmits: 0, live: true };
    this.byKey.set(key, item);
    this.#bucket(0).push(item);
  }

  forget(key: string): boolean {
    const old = this.byKey.get(key);
    if (!old) return false;
    old.live = false;
    this.byKey.delete(key);
    return true;
  }

  take(budget: number, limit: number, sep: number, out: string[], most = Infinity): number {
    const moved: Item[] = [];
    for (let t = 0; t < this.#buckets.length && budget > MIN_ITEM && moved.length < most; t++) {
      const b = this.#buckets[t];
      let took = false;
      for (let i = b.length - 1; i >= 0 && budget > MIN_ITEM && moved.length < most; i--) {
        const it = b[i];
        if (!it.live || it.bytes + sep > budget) continue;
        budget -= it.bytes + sep;
        out.push(it.text);
        it.live = false;
        moved.push(it);
        took = true;
      }
      // Replaced items linger as dead entries; sweep them when this bucket changed or grew.
      if (took || b.length > 2 * this.byKey.size + 64) this.#buckets[t] = b.filter((x) => x.live);
    }
    for (const it of moved) {
      if (this.byKey.get(it.key) !== it) continue;
      const next = { ...it, transmits: it.transmits + 1, live: true };
      if (next.transmits >= limit) {
        this.byKey.delete(it.key);
        continue;
      }
      this.byKey.set(it.key, next);
      this.#bucket(next.transmits).push(next);
    }
    return budget;
  }

  /** Drop the most-transmitted, oldest item; false when empty. */
  dropOne(): boolean {
    for (let t = this.#buckets.length - 1; t >= 0; t--) {
      const b = this.#buckets[t];
      while (b.length) {
        const it = b.shift()!;
        if (!it.live) continue;
        it.live = false;
        this.byKey.delete(it.key);
        return true;
      }
    }
    return false;
  }

  #bucket(t: number): Item[] {
    while (this.#buckets.length <= t) this.#buckets.push([]);
    return this.#buckets[t];
  }
}

/** Membership keys are `m:<id>`; everything else the membership core queues is a payload. */
const laneOf = (key: string): Lane => (key.startsWith("u:") ? "payload" : "member");

export class TransmitQueue {
  readonly #member = new Bucketed();
  readonly #payload = new Bucketed();
  readonly payloadMax: number;
  dropped = 0;

  constructor(
    readonly maxItems: number,
    payloadMax = PAYLOAD_LANE_MAX,
    readonly payloadPerPacket = PAYLOAD_PER_PACKET,
  ) {
    this.payloadMax = Math.min(maxItems, payloadMax);
  }

  get size(): number {
    return this.#member.byKey.size + this.#payload.byKey.size;
  }

  /** Items waiting in the payload lane (row deltas). */
  get payloadSize(): number {
    return this.#payload.byKey.size;
  }

  /** Queue a message; the lane defaults from the key (`u:` = payload). */
  push(key: string, text: string, lane: Lane = laneOf(key)): void {
    const l = lane === "member" ? this.#member : this.#payload;
    const other = lane === "member" ? this.#payload : this.#member;
    other.forget(key);
    if (!l.byKey.has(key)) {
      if (lane === "payload" && this.#payload.byKey.size >= this.payloadMax) this.#drop(this.#payload);
      if (this.size >= this.maxItems) this.#drop(this.#payload.byKey.size ? this.#payload : this.#member);
    }
    l.push(key, text);
  }

  /** Remove the item for a key (its subject is settled). */
  forget(key: string): void {
    if (!this.#member.forget(key)) this.#payload.forget(key);
  }

  /**
   * Take items whose texts fit in `budget` bytes (each costs its length plus `sep`), counting
   * one transmit for each; items that reach `limit` are removed. Membership items first.
   */
  take(budget: number, limit: number, sep = 1): string[] {
    const out: string[] = [];
    const left = this.#member.take(budget, limit, sep, out);
    const n = out.length;
    if (left > MIN_ITEM) this.#payload.take(Math.min(left, this.payloadPerPacket), limit, sep, out);
    if (out.length === n && left > this.payloadPerPacket) this.#payload.take(left, limit, sep, out, 1);
    return out;
  }

  #drop(l: Bucketed): void {
    if (l.dropOne()) this.dropped++;
  }
}
