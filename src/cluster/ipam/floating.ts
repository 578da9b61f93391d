/**
 * Floating IPs as single-address slots: exactly one host serves each. Moving one is a release
 * by the holder followed by a majority claim; two hosts claiming at once can split the votes so
 * that neither wins, and each tries again after a random pause.
 */
import type { Agreement, ClaimOutcome } from "./agreement.ts";
import type { IpamMsg } from "./messages.ts";
import type { SlotRecord } from "./promises.ts";
import type { SlotViews } from "./slot-views.ts";
import { fipSlot, type IpamConfig, type IpamOptions } from "./options.ts";

/** What the floating-IP part needs from the IPAM around it. */
export interface FloatingContext {
  readonly o: IpamOptions;
  readonly config: IpamConfig;
  readonly slots: SlotViews;
  readonly agreement: Agreement;
  record(slot: string): SlotRecord | undefined;
  forgotten(host: string): boolean;
  voters(): string[];
  now(): number;
  send(id: string, m: IpamMsg): void;
  /** Persist a slot this host won. */
  won(o: Extract<ClaimOutcome, { ok: true }>): void;
}

export type ServeResult = { ok: true; state: "serving" | "pending" } | { ok: false; error: string };

export class FloatingSlots {
  readonly #c: FloatingContext;
  /** Hand-overs asked of another holder: address → give up waiting at. */
  readonly #transfers = new Map<string, number>();
  /** Floating IPs whose claim failed with nobody holding them (split votes): tried again. */
  readonly #retries = new Map<string, { at: number; left: number }>();

  constructor(c: FloatingContext) {
    this.#c = c;
  }

  /** Floating IPs we serve. */
  serving(): string[] {
    return this.#c.slots.held("fip:");
  }

  /**
   * Start serving a floating IP here. If another reachable host serves it, it is asked to
   * hand it over and the claim follows its release; the result then says "pending".
   */
  serve(address: string, now: number): ServeResult {
    const slot = fipSlot(address);
    const rec = this.#c.record(slot);
    const { o } = this.#c;
    if (rec && !rec.released && rec.owner === o.self) return { ok: true, state: "serving" };
    if (rec && !rec.released && !this.#c.forgotten(rec.owner)) {
      if (!o.peers.isReachable(rec.owner))
        return {
          ok: false,
          error: `floating IP ${address} is served by ${rec.owner}, which is unreachable; run "netlet host forget ${rec.owner}" if it is gone`,
        };
      this.#c.send(rec.owner, { i: "t", slot });
      this.#transfers.set(address, now + 3 * this.#c.config.claimTimeoutMs);
      return { ok: true, state: "pending" };
    }
    this.#c.agreement.claim(slot, now, (r) => this.#claimed(r, address));
    return { ok: true, state: "pending" };
  }

  /** Stop serving a floating IP (disassociate, or hand-over to another host). */
  release(address: string): boolean {
    const slot = fipSlot(address);
    const rec = this.#c.record(slot);
    const { o } = this.#c;
    if (!rec || rec.released || rec.owner !== o.self) return false;
    // Stop serving first, then persist and announce: never two servers, at worst none briefly.
    o.onServe?.(address, false);
    o.write({
      table: "ipam_slot",
      key: `${slot}@${rec.epoch}`,
      deleted: false,
      data: { slot, owner: o.self, epoch: rec.epoch, released: true },
    });
    this.#c.agreement.release(slot, rec.epoch);
    return true;
  }

  /** Another host asks for a slot we serve: stop serving, then tell it too so it can claim at once. */
  handOver(from: string, slot: string): void {
    const rec = this.#c.record(slot);
    if (this.release(slot.slice(4)) && rec && !this.#c.voters().includes(from))
      this.#c.send(from, { i: "l", slot, e: rec.epoch });
  }

  /** A slot was released: claim it when it is one we asked to be handed over. */
  released(slot: string, epoch: number, now: number): void {
    if (!slot.startsWith("fip:") || !this.#transfers.has(slot.slice(4))) return;
    const address = slot.slice(4);
    this.#transfers.delete(address);
    this.#c.agreement.claim(slot, now, (r) => this.#claimed(r, address), 0, epoch + 1);
  }

  nextDeadline(): number {
    let d = Infinity;
    for (const r of this.#retries.values()) d = Math.min(d, r.at);
    return d;
  }

  tick(now: number): void {
    for (const [address, r] of this.#retries) {
      if (now < r.at) continue;
      r.at = Infinity;
      const rec = this.#c.record(fipSlot(address));
      if ((rec && !rec.released && !this.#c.forgotten(rec.owner)) || this.#c.agreement.pending(fipSlot(address)))
        this.#retries.delete(address);
      else this.serve(address, now);
    }
  }

  /** Pending hand-overs, looked at on every tick (they set no deadline: the admit round's tick comes). */
  tickTransfers(now: number): void {
    for (const [address, until] of this.#transfers) {
      const rec = this.#c.record(fipSlot(address));
      if (!rec || rec.released || this.#c.forgotten(rec.owner)) {
        this.#transfers.delete(address);
        this.serve(address, now);
      } else if (now >= until) this.#transfers.delete(address);
    }
  }

  #claimed(r: ClaimOutcome, address: string): void {
    if (!r.ok) return this.#retry(address);
    this.#retries.delete(address);
    this.#c.won(r);
    this.#c.o.onServe?.(address, true);
  }

  /** A split vote: try again after a random pause (three times), unless someone holds it by then. */
  #retry(address: string): void {
    const r = this.#retries.get(address) ?? { at: 0, left: 3 };
    if (r.left <= 0) return void this.#retries.delete(address);
    r.left--;
    r.at = this.#c.now() + Math.floor(this.#c.config.claimTimeoutMs * (0.5 + this.#c.o.random()));
    this.#retries.set(address, r);
  }
}
