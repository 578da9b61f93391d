/** A running suspicion about one member: Lifeguard's timer that shrinks with confirmations. */
import { remainingSuspicion } from "./math.ts";

export class Suspicion {
  readonly #confirmers = new Set<string>();
  deadline: number;
  /** Set once the final direct check before declaring death has been sent. */
  verified = false;
  /** Sequence number of that check's pings; an ack for it clears the suspicion. */
  checkSeq = -1;

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
  }

  /** Record an independent accuser; true when it was new (then worth re-gossiping). */
  confirm(from: string): boolean {
    if (this.#confirmers.size - 1 >= this.k || this.#confirmers.has(from)) return false;
    this.#confirmers.add(from);
    this.deadline = this.start + remainingSuspicion(this.#confirmers.size - 1, this.k, 0, this.minMs, this.maxMs);
    return true;
  }
}
