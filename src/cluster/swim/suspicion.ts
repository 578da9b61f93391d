/** A running suspicion about one member: Lifeguard's timer that shrinks with confirmations. */
import { remainingSuspicion } from "./math.ts";

export class Suspicion {
  readonly #confirmers = new Set<string>();
  deadline: number;
  /** Rounds of the final check before declaring death sent so far (see SwimCore). */
  checks = 0;
  /** Sequence numbers of those checks' pings; an ack to any of them means it lives. */
  checkSeqs: number[] = [];
  /** When we tell the suspect itself of the accusation, unless it has refuted by then. */
  nudgeAt: number;

  /** `from` is the first accuser; it does not count as a confirmation. */
  constructor(
    readonly start: number,
    readonly k: number,
    readonly minMs: number,
    readonly maxMs: number,
    from: string,
  ) {
    this.#confirmers.add(from);
    this.deadline = start + remainingSuspicion(0, k, 0, minMs, maxMs);
    this.nudgeAt = start + Math.floor(minMs / 5);
  }

  /** Enough independent accusers arrived: other members failed to reach it too. */
  get confirmed(): boolean {
    return this.k > 0 && this.#confirmers.size - 1 >= this.k;
  }

  /** Record an independent accuser; true when it was new (then worth re-gossiping). */
  confirm(from: string): boolean {
    if (this.#confirmers.size - 1 >= this.k || this.#confirmers.has(from)) return false;
    this.#confirmers.add(from);
    this.deadline = this.start + remainingSuspicion(this.#confirmers.size - 1, this.k, 0, this.minMs, this.maxMs);
    return true;
  }
}
