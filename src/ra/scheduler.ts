/**
 * When to send Router Advertisements on one interface (RFC 4861 §6.2.4–§6.2.6), as a sans-IO
 * state machine: the caller passes `now` (milliseconds) to every call, asks `poll(now)` for the
 * sends that are due, and sleeps until `nextWakeAt()`. Randomness is injected.
 *
 * - Unsolicited multicast RAs at uniformly random intervals in [Min, Max]; the intervals after
 *   the first MAX_INITIAL_RTR_ADVERTISEMENTS are capped at MAX_INITIAL_RTR_ADVERT_INTERVAL so a
 *   new interface hears a router quickly even with a large Max.
 * - A solicitation from a host with an address is answered by unicast after a random 0–0.5 s
 *   delay (RFC 7772, radvd's AdvRASolicitedUnicast default). A solicitation from `::` cannot
 *   be unicast to, so it pulls the next multicast RA forward, never closer than
 *   MIN_DELAY_BETWEEN_RAS to the previous multicast one. After `maxPendingUnicast` unicast
 *   answers since the last multicast RA (a burst of booting guests, or one guest forging
 *   sources), further solicitations are folded into that multicast RA too: one packet answers
 *   them all, so a flood of RS yields at most that many unicast RAs per 3 s.
 * - `stop()` switches to final RAs (router lifetime 0): the first goes out at once, because a
 *   host that keeps a dead default router loses connectivity; later ones respect the 3 s gap.
 */

export const MAX_INITIAL_RTR_ADVERTISEMENTS = 3;
export const MAX_INITIAL_RTR_ADVERT_INTERVAL_MS = 16_000;
export const MIN_DELAY_BETWEEN_RAS_MS = 3_000;
export const MAX_RA_DELAY_TIME_MS = 500;
export const MAX_FINAL_RTR_ADVERTISEMENTS = 3;

export interface SchedulerOptions {
  /** MinRtrAdvInterval in ms. @default 3000 (nova's radvd config) */
  minIntervalMs?: number;
  /** MaxRtrAdvInterval in ms. @default 10000 (nova's radvd config) */
  maxIntervalMs?: number;
  /** Uniform random number in [0, 1). */
  random: () => number;
  /** Final RAs sent after stop(), 1..3. @default 1 */
  finalCount?: number;
  /**
   * Upper bound of the random delay before a solicited RA, ms. RFC 4861 §6.2.6 says MUST 0–500;
   * radvd 2.19 answers unicast solicitations at once (measured, bench/ra), which 0 reproduces.
   * @default 500
   */
  maxSolicitedDelayMs?: number;
  /**
   * Unicast answers allowed between two multicast RAs; further solicitations are answered by
   * pulling the multicast RA forward. @default 16
   */
  maxPendingUnicast?: number;
}

export type RaSend = { kind: "multicast"; final: boolean } | { kind: "unicast"; to: string; final: false };

export type SolicitOutcome = "unicast" | "multicast" | "already-pending" | "not-advertising";

type Phase = "idle" | "running" | "stopping" | "done";

export class RaScheduler {
  readonly minMs: number;
  readonly maxMs: number;
  readonly #random: () => number;
  readonly #finalCount: number;
  readonly #maxPending: number;
  readonly #maxDelay: number;
  #phase: Phase = "idle";
  #nextMulticastAt: number | null = null;
  #lastMulticastAt = -Infinity;
  #multicastSent = 0;
  #finalsLeft = 0;
  #unicastSinceMulticast = 0;
  readonly #pendingUnicast = new Map<string, number>();

  constructor(opts: SchedulerOptions) {
    this.minMs = opts.minIntervalMs ?? 3_000;
    this.maxMs = opts.maxIntervalMs ?? 10_000;
    validateIntervals(this.minMs, this.maxMs);
    this.#random = opts.random;
    this.#finalCount = opts.finalCount ?? 1;
    if (!(this.#finalCount >= 1 && this.#finalCount <= MAX_FINAL_RTR_ADVERTISEMENTS)) {
      throw new RangeError(
        `Cannot schedule final RAs as 'finalCount' must be 1..3: current value is ${this.#finalCount}`,
      );
    }
    this.#maxPending = opts.maxPendingUnicast ?? 16;
    this.#maxDelay = opts.maxSolicitedDelayMs ?? MAX_RA_DELAY_TIME_MS;
    if (!(this.#maxDelay >= 0 && this.#maxDelay <= MAX_RA_DELAY_TIME_MS)) {
      throw new RangeError(
        `Cannot schedule RAs as 'maxSolicitedDelayMs' must be 0–500: current value is ${this.#maxDelay}`,
      );
    }
  }

  get phase(): Phase {
    return this.#phase;
  }

  /** The interface became an advertising interface (its link-local address passed DAD). */
  start(now: number): void {
    if (this.#phase !== "idle") return;
    this.#phase = "running";
    this.#nextMulticastAt = now;
  }

  /** A valid RS arrived from `source` ("::" for a host without an address). */
  solicit(now: number, source: string): SolicitOutcome {
    if (this.#phase !== "running") return "not-advertising";
    const delay = this.#random() * this.#maxDelay;
    if (source !== "::" && this.#pendingUnicast.has(source)) return "already-pending";
    if (source !== "::" && this.#unicastSinceMulticast < this.#maxPending) {
      this.#unicastSinceMulticast += 1;
      this.#pendingUnicast.set(source, now + delay);
      return "unicast";
    }
    const earliest = Math.max(now, this.#lastMulticastAt + MIN_DELAY_BETWEEN_RAS_MS) + delay;
    if (this.#nextMulticastAt === null || earliest < this.#nextMulticastAt) this.#nextMulticastAt = earliest;
    return "multicast";
  }

  /**
   * The advertised contents changed: send an RA soon (not closer than MIN_DELAY_BETWEEN_RAS to
   * the last one) and restart the fast initial phase so every host learns the change quickly.
   */
  changed(now: number): void {
    if (this.#phase !== "running") return;
    this.#multicastSent = 0;
    const soon = Math.max(now, this.#lastMulticastAt + MIN_DELAY_BETWEEN_RAS_MS);
    if (this.#nextMulticastAt === null || soon < this.#nextMulticastAt) this.#nextMulticastAt = soon;
  }

  /** Begin the final RAs. An interface that never advertised has nothing to withdraw. */
  stop(now: number, finalCount = this.#finalCount): void {
    if (this.#phase === "stopping" || this.#phase === "done") return;
    this.#pendingUnicast.clear();
    if (this.#phase === "idle") {
      this.#phase = "done";
      this.#nextMulticastAt = null;
      return;
    }
    this.#phase = "stopping";
    this.#finalsLeft = Math.max(1, Math.min(MAX_FINAL_RTR_ADVERTISEMENTS, finalCount));
    this.#nextMulticastAt = now;
  }

  /** The sends due at `now`, in order; each is reported once. */
  poll(now: number): RaSend[] {
    const out: RaSend[] = [];
    if (this.#nextMulticastAt !== null && now >= this.#nextMulticastAt) {
      out.push({ kind: "multicast", final: this.#phase === "stopping" });
      this.#afterMulticast(now);
    }
    for (const [to, due] of this.#pendingUnicast) {
      if (now < due) continue;
      this.#pendingUnicast.delete(to);
      out.push({ kind: "unicast", to, final: false });
    }
    return out;
  }

  /** When `poll` next has something to return, or null when nothing is scheduled. */
  nextWakeAt(): number | null {
    let at = this.#nextMulticastAt ?? Infinity;
    for (const due of this.#pendingUnicast.values()) at = Math.min(at, due);
    return at === Infinity ? null : at;
  }

  #afterMulticast(now: number): void {
    this.#lastMulticastAt = now;
    this.#unicastSinceMulticast = 0;
    // Every host on the link just heard an RA, so waiting unicast answers are redundant.
    this.#pendingUnicast.clear();
    if (this.#phase === "stopping") {
      this.#finalsLeft -= 1;
      if (this.#finalsLeft > 0) this.#nextMulticastAt = now + MIN_DELAY_BETWEEN_RAS_MS;
      else {
        this.#phase = "done";
        this.#nextMulticastAt = null;
      }
      return;
    }
    this.#multicastSent += 1;
    this.#nextMulticastAt = now + this.#interval();
  }

  #interval(): number {
    const ms = this.minMs + this.#random() * (this.maxMs - this.minMs);
    if (this.#multicastSent <= MAX_INITIAL_RTR_ADVERTISEMENTS) return Math.min(ms, MAX_INITIAL_RTR_ADVERT_INTERVAL_MS);
    return ms;
  }
}

/** RFC 4861 §6.2.1 bounds: 4 s ≤ Max ≤ 1800 s, 3 s ≤ Min ≤ 0.75 × Max. */
export function validateIntervals(minMs: number, maxMs: number): void {
  if (!(maxMs >= 4_000 && maxMs <= 1_800_000)) {
    throw new RangeError(
      `Cannot schedule RAs as MaxRtrAdvInterval must be 4–1800 s: current value is ${maxMs / 1000} s`,
    );
  }
  if (!(minMs >= 3_000 && minMs <= 0.75 * maxMs)) {
    throw new RangeError(
      `Cannot schedule RAs as MinRtrAdvInterval must be 3 s to 0.75 × Max (${(0.75 * maxMs) / 1000} s): current value is ${minMs / 1000} s`,
    );
  }
}
