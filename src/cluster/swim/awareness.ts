/**
 * Lifeguard local health. Missed nacks, refuting suspicion about ourselves and event-loop lag
 * raise the score; successful probes lower it. A high score means "I am probably the slow one",
 * so we probe less often instead of accusing healthy peers.
 */
export class Awareness {
  #score = 0;
  constructor(readonly max: number) {}

  get score(): number {
    return this.#score;
  }

  apply(delta: number): void {
    this.#score = Math.min(this.max - 1, Math.max(0, this.#score + delta));
  }
}
