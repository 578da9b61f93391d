/**
 * A packet from a member we have never heard of, or hold dead: every copy of its join or
 * refutation gossip was lost to us, and push-pull may be minutes away. Ask it for its own
 * entry (telling it we hold it dead, so it refutes if it has not), and ask again each probe
 * interval (3 tries) until it answers, so one lost rumour does not leave a hole in our view.
 */
import type { SwimConfig } from "./config.ts";
import type { Exchanges } from "./exchange.ts";
import type { MemberTable } from "./table.ts";

interface Ask {
  addr: string;
  tries: number;
  since: number;
  next: number;
}

export interface StrangerDeps {
  config: SwimConfig;
  table: MemberTable;
  exchanges: Exchanges;
}

export class Strangers {
  readonly #asked = new Map<string, Ask>();

  constructor(private readonly d: StrangerDeps) {}

  deadline(): number {
    let d = Infinity;
    for (const a of this.#asked.values()) d = Math.min(d, a.next);
    return d;
  }

  /** Member `id`, unknown or held dead, sent us a packet from `from`. */
  ask(id: string, from: string, now: number): void {
    if (this.#asked.has(id) || this.#asked.size >= 64) return;
    this.#asked.set(id, { addr: from, tries: 1, since: now, next: now + this.d.config.probeIntervalMs });
    this.#ask(id, from);
  }

  tick(now: number): void {
    const interval = this.d.config.probeIntervalMs;
    for (const [id, a] of this.#asked) {
      if (now < a.next) continue;
      if (!this.d.table.missing(id) || a.tries >= 3) {
        // The entry stays a while as a rate limit, then goes.
        if (now - a.since >= 10 * interval) this.#asked.delete(id);
        else a.next = a.since + 10 * interval;
        continue;
      }
      a.tries++;
      a.next = now + interval;
      this.#ask(id, a.addr);
    }
  }

  #ask(id: string, addr: string): void {
    this.d.exchanges.helloTo(addr, this.d.table.get(id), 2);
  }
}
