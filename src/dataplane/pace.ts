/**
 * Long dataplane work (a 10,000-instance build and render) in slices: `pause()` lets pending I/O
 * and timers run once the work done since the last turn of the event loop has used its budget —
 * yielding after every small step would cost more than the work on small hosts — and the longest
 * slice is kept, so an apply can say how long it held the event loop.
 *
 * Work handed to a writer (a piece of nft text) may come back in the same task when the pipe took
 * it at once, so the time between `handOff()` and `resume()` is not counted, but it does not end
 * a slice either: only a real turn (`pause()` over budget) does. The longest slice is thus an
 * upper bound of the longest synchronous block.
 */
export class Pacer {
  readonly #clock: () => number;
  readonly #budgetMs: number;
  readonly #turn: () => Promise<void>;
  /** Work since the last turn, and when the current stretch of it began. */
  #work = 0;
  #since: number;
  #longest = 0;

  constructor(clock: () => number, budgetMs: number, turn = () => new Promise<void>((r) => setImmediate(r))) {
    this.#clock = clock;
    this.#budgetMs = budgetMs;
    this.#turn = turn;
    this.#since = clock();
  }

  async pause(): Promise<void> {
    this.handOff();
    this.#since = this.#clock();
    if (this.#work < this.#budgetMs) return;
    await this.#turn();
    this.#work = 0;
    this.#since = this.#clock();
  }

  /** The work stops for now (a piece handed to a writer). */
  handOff(): void {
    this.#work += this.#clock() - this.#since;
    this.#longest = Math.max(this.#longest, this.#work);
    this.#since = this.#clock();
  }

  /** The work goes on after a hand-off. */
  resume(): void {
    this.#since = this.#clock();
  }

  /** Longest stretch of work between two turns of the event loop that ended so far, ms. */
  get longestMs(): number {
    return this.#longest;
  }
}
