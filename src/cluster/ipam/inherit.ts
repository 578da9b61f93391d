/**
 * Promise inheritance: what a voter must know before its first vote.
 *
 * Promises live only at the voters that made them; replicated slot records can lag (a
 * partition right after a claim). A voter that joins the set later must not grant a slot some
 * earlier majority already granted, or a majority of the new set could avoid every voter that
 * remembers the first grant. So a newly admitted voter, and a voter whose state directory was
 * wiped, copies the unreleased promises of ceil(n/2) of the other n-1 voters (Ipam.#admit):
 * any majority of the set holds at least floor(n/2) voters besides this one, so the two meet.
 * Until then it does not vote. Pages are small and pulled one at a time, so a large table
 * costs round trips, not big datagrams.
 */
import type { PromiseStore, SlotPromise } from "../../replication/promise-store.ts";

/** Promises per answer: ~110 bytes each keeps a page inside one datagram. */
export const PAGE = 8;

/** A page entry: slot, owner, epoch (unreleased promises only). */
export type PromiseEntry = [string, string, number];

export interface InheritPeers {
  self: string;
  send(id: string, m: { i: "q"; a: string }): void;
}

/** Answer a request for promises after `after`: the next page and where to go on from. */
export function servePromises(promises: PromiseStore, after: string): { ps: PromiseEntry[]; nx: string | null } {
  const page = promises.after(after, PAGE);
  const ps = page
    .filter(([slot, p]) => !p.released && !slot.startsWith("inherit:"))
    .map(([slot, p]) => [slot, p.owner, p.epoch] as PromiseEntry);
  return { ps, nx: page.length < PAGE ? null : page[page.length - 1][0] };
}

interface Source {
  after: string;
  done: boolean;
  askedAt: number;
}

export class Inheritance {
  readonly #sources = new Map<string, Source>();
  #need = 0;
  /** True once enough sources were copied in full (or nothing had to be inherited). */
  complete: boolean;
  readonly stats = { pages: 0, copied: 0 };

  constructor(
    readonly peers: InheritPeers,
    readonly promises: PromiseStore,
    readonly resendMs: number,
    complete: boolean,
  ) {
    this.complete = complete;
  }

  get running(): boolean {
    return !this.complete && this.#sources.size > 0;
  }

  /** Copy from `sources` until `need` of them have been read to the end. */
  start(sources: string[], need: number, now: number): void {
    this.#sources.clear();
    for (const s of sources) if (s !== this.peers.self) this.#sources.set(s, { after: "", done: false, askedAt: now });
    this.#need = need;
    if (this.#need <= 0) return this.#finish();
    for (const s of this.#sources.keys()) this.peers.send(s, { i: "q", a: "" });
  }

  /** One page from `from`, answering our request for promises after `a`. */
  handle(from: string, a: string, ps: PromiseEntry[], nx: string | null, now: number): void {
    const src = this.#sources.get(from);
    if (this.complete || !src || src.done || src.after !== a) return;
    this.stats.pages++;
    for (const [slot, owner, epoch] of ps) this.#copy(slot, { owner, epoch, released: false });
    if (nx === null || nx <= a) {
      src.done = true;
      if ([...this.#sources.values()].filter((x) => x.done).length >= this.#need) this.#finish();
      return;
    }
    src.after = nx;
    src.askedAt = now;
    this.peers.send(from, { i: "q", a: nx });
  }

  nextDeadline(): number {
    if (!this.running) return Infinity;
    let d = Infinity;
    for (const s of this.#sources.values()) if (!s.done) d = Math.min(d, s.askedAt + this.resendMs);
    return d;
  }

  /** Ask again where an answer is overdue (requests and pages get lost). */
  tick(now: number): void {
    if (!this.running) return;
    for (const [id, s] of this.#sources) {
      if (s.done || now < s.askedAt + this.resendMs) continue;
      s.askedAt = now;
      this.peers.send(id, { i: "q", a: s.after });
    }
  }

  /** A newer epoch than ours is taken as is; a release we know of is kept. */
  #copy(slot: string, p: SlotPromise): void {
    const cur = this.promises.get(slot);
    if (cur && cur.epoch >= p.epoch) return;
    this.promises.put(slot, p);
    this.stats.copied++;
  }

  #finish(): void {
    this.complete = true;
    this.#sources.clear();
    // Remembered across restarts: a voter that stopped half-way starts over.
    this.promises.put(`inherit:${this.peers.self}`, { owner: this.peers.self, epoch: 1, released: false });
  }
}
