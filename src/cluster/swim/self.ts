/** Our own entry: who we are, the incarnation we refute with, and whether we are leaving. */
import type { MemberView } from "./members.ts";
import { ALIVE, LEFT } from "./messages.ts";
import { aliveText } from "./texts.ts";

export class Self {
  leaving = false;

  constructor(
    readonly id: string,
    readonly addr: string,
    readonly generation: number,
    public incarnation: number,
  ) {}

  /** Our alive message at the current incarnation. */
  aliveText(): string {
    return aliveText(this.id, this.addr, this.generation, this.incarnation);
  }

  /** Our member tuple as JSON, as we are: left once leaving (a full table). */
  tupleText(): string {
    return this.#tuple(this.leaving ? LEFT : ALIVE);
  }

  /** Our member tuple as JSON, alive whatever we are (a hello). */
  aliveTupleText(): string {
    return this.#tuple(ALIVE);
  }

  #tuple(state: typeof ALIVE | typeof LEFT): string {
    return JSON.stringify([this.id, this.addr, this.generation, this.incarnation, state]);
  }

  view(): MemberView {
    return {
      id: this.id,
      addr: this.addr,
      generation: this.generation,
      incarnation: this.incarnation,
      state: this.leaving ? "left" : "alive",
      since: 0,
      rttMs: 0,
    };
  }
}
