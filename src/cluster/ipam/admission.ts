/**
 * Becoming a voter: the first host of a cluster admits itself, every later one needs a
 * majority; an admitted host whose promise table is not whole copies the others' before its
 * first vote (inherit.ts). Admission rounds come at jittered intervals so that hosts that
 * joined together do not collide on every retry.
 */
import type { Agreement, ClaimOutcome } from "./agreement.ts";
import type { Inheritance } from "./inherit.ts";
import type { SlotRecord } from "./promises.ts";
import { type IpamConfig, type IpamOptions, voterSlot } from "./options.ts";

export interface AdmissionContext {
  readonly o: IpamOptions;
  readonly config: IpamConfig;
  readonly agreement: Agreement;
  readonly inheritance: Inheritance;
  record(slot: string): SlotRecord | undefined;
  voters(): string[];
  ready(now: number): boolean;
  now(): number;
  won(o: Extract<ClaimOutcome, { ok: true }>): void;
}

export class Admission {
  readonly #c: AdmissionContext;
  /** The next admission round (also when the headroom of busy networks is looked at). */
  nextAt: number;

  constructor(c: AdmissionContext, now: number) {
    this.#c = c;
    this.nextAt = now;
  }

  /** Whether a round is due at `now`; if so, the next one is scheduled. */
  due(now: number): boolean {
    if (now < this.nextAt) return false;
    this.nextAt = now + this.#c.config.claimTimeoutMs * (0.5 + this.#c.o.random());
    return true;
  }

  admit(now: number): void {
    const { o, agreement, inheritance } = this.#c;
    const slot = voterSlot(o.self);
    if (!this.#c.ready(now)) return;
    const voters = this.#c.voters();
    if (this.#c.record(slot)) {
      // Admitted (now or in an earlier life) but our table is not whole: copy before voting.
      if (!inheritance.complete && !inheritance.running && voters.includes(o.self)) {
        inheritance.start(voters, Math.min(voters.length - 1, Math.ceil(voters.length / 2)), now);
      }
      return;
    }
    if (agreement.pending(slot)) return;
    if (voters.length === 0) {
      if (o.bootstrap) this.#admitted({ ok: true, slot, epoch: 1 });
      return;
    }
    agreement.claim(slot, now, (r) => this.#admitted(r));
  }

  #admitted(r: ClaimOutcome): void {
    if (!r.ok) {
      // An admission refused for a passing reason (another one in flight, a voter still
      // copying promises): try again after a short random pause, not a whole admit round.
      this.nextAt = this.#c.now() + Math.floor(this.#c.config.claimTimeoutMs * (0.1 + 0.3 * this.#c.o.random()));
      return;
    }
    // Admitted: start copying promises on the next tick rather than the next admit round.
    this.nextAt = this.#c.now();
    this.#c.won(r);
  }
}
