/**
 * Long dataplane work (a 10,000-instance build and render) in slices: `pause()` lets pending I/O
 * and timers run once the current slice has used its budget — yielding after every small step
 * would cost more than the work on small hosts — and the longest slice is kept, so an apply can
 * say how long it held the event loop.
 */
export class Pacer {
  #since: number;
  #longest = 0;

  constructor(
    private readonly clock: () => number,
    private readonly budgetMs: number,
    private readonly turn: () => Promise<void> = () => new Promise((r) => setImmediate(r)),
  ) {
    this.#since = clock();
  }

  async pause(): Promise<void> {
    const ran = this.clock() - this.#since;
    if (ran < this.budgetMs) return;
    this.#longest = Math.max(this.#longest, ran);
    await this.turn();
    this.#since = this.clock();
  }

  /** Control leaves the work (a piece handed to a writer) and comes back later: the slice ends. */
  handOff(): void {
    this.#longest = Math.max(this.#longest, this.clock() - this.#since);
  }

  /** The work goes on after a hand-off: a new slice starts. */
  resume(): void {
    this.#since = this.clock();
  }

  /** Longest slice that ended (with a pause or a hand-off), ms. */
  get longestMs(): number {
    return this.#longest;
  }
}
