/**
 * The merge rules: what alive, suspect and dead news (gossip, full tables, our own failed
 * probes) does to the member table, and how we refute news about ourselves. Every accepted
 * change is re-gossiped and reported as an event.
 */
import type { Awareness } from "./awareness.ts";
import type { SwimConfig } from "./config.ts";
import { retransmitLimit } from "./math.ts";
import { type Member, type MemberView, STATE_NAMES, isGone, newMember } from "./members.ts";
import { ALIVE, DEAD, LEFT, type MemberState, SUSPECT } from "./messages.ts";
import type { MemberChange, Outbox, SwimStats } from "./outbox.ts";
import type { Prober } from "./probe.ts";
import type { Self } from "./self.ts";
import type { Suspicions } from "./suspicions.ts";
import type { MemberTable } from "./table.ts";
import { deadText, stateText, suspectText } from "./texts.ts";

export interface AliveNews {
  n: string;
  a: string;
  g: number;
  i: number;
}

/** Suspect or dead news about member `n`, from accuser `f` (`f` = `n`: a graceful leave). */
export interface Accusation {
  n: string;
  g: number;
  i: number;
  f: string;
}

export interface NewsDeps {
  config: SwimConfig;
  self: Self;
  table: MemberTable;
  suspicions: Suspicions;
  prober: Prober;
  out: Outbox;
  stats: SwimStats;
  awareness: Awareness;
}

export class News {
  /** Deaths we confirmed to a late accuser, by member and incarnation (sent once each). */
  readonly #confirmed = new Set<string>();

  constructor(private readonly d: NewsDeps) {}

  /** A full-state entry: alive and suspect as such; dead as suspect so the node can refute. */
  mergeTuple(n: string, a: string, g: number, i: number, s: MemberState, sender: string, now: number): void {
    if (s === ALIVE) this.onAlive({ n, a, g, i }, now);
    else if (s === LEFT) this.onDead({ n, g, i, f: n }, now);
    else if (this.d.table.has(n) || n === this.d.self.id) this.onSuspect({ n, g, i, f: sender }, now);
    else if (s === SUSPECT) {
      this.onAlive({ n, a, g, i }, now);
      this.onSuspect({ n, g, i, f: sender }, now);
    }
  }

  onAlive(m: AliveNews, now: number): void {
    const { self, table, suspicions } = this.d;
    if (m.n === self.id) {
      if (m.g > self.generation) this.d.stats.conflicts++;
      else if (m.g === self.generation && m.i > self.incarnation && !self.leaving) this.#refute(m.i);
      return;
    }
    const cur = table.get(m.n);
    if (!cur || m.g > cur.generation) {
      const fresh = newMember(m.n, m.a, m.g, m.i, now);
      suspicions.delete(m.n);
      table.add(fresh);
      this.d.prober.schedule(m.n);
      this.d.out.queue.push(`m:${m.n}`, stateText(fresh, self.id));
      this.#emit(cur ? "replaced" : "join", fresh);
      return;
    }
    if (m.g < cur.generation || m.i <= cur.incarnation) return;
    cur.incarnation = m.i;
    cur.addr = m.a;
    if (cur.state !== ALIVE) {
      const was = STATE_NAMES[cur.state];
      suspicions.delete(m.n);
      table.setState(cur, ALIVE, now);
      this.#emit("alive", cur, was);
    }
    this.d.out.queue.push(`m:${m.n}`, stateText(cur, self.id));
  }

  onSuspect(m: Accusation, now: number): void {
    const { self, table, suspicions, out } = this.d;
    if (m.n === self.id) return this.#accused(m);
    const cur = table.get(m.n);
    if (cur && cur.state === DEAD && m.g === cur.generation && m.i > cur.incarnation) return this.#confirmDeath(cur, m);
    if (!cur || m.g !== cur.generation || m.i < cur.incarnation || isGone(cur)) return;
    if (cur.state === SUSPECT) {
      // Re-gossip only new, independent confirmations (Lifeguard dogpile).
      if (m.i === cur.incarnation && suspicions.get(m.n)?.confirm(m.f))
        out.queue.push(`m:${m.n}`, suspectText(m.n, m.g, m.i, m.f));
      return;
    }
    cur.incarnation = m.i;
    table.setState(cur, SUSPECT, now);
    suspicions.start(m.n, m.f, now);
    out.queue.push(`m:${m.n}`, suspectText(m.n, m.g, m.i, m.f));
    this.#emit("suspect", cur);
  }

  onDead(m: Accusation, now: number): void {
    const { self, table } = this.d;
    if (m.n === self.id) {
      // Unless it is our own leave coming back to us.
      if (m.f !== self.id) this.#accused(m);
      return;
    }
    const cur = table.get(m.n);
    if (!cur || m.g !== cur.generation || m.i < cur.incarnation || isGone(cur)) return;
    cur.incarnation = m.i;
    this.d.suspicions.delete(m.n);
    const left = m.f === m.n;
    table.setState(cur, left ? LEFT : DEAD, now);
    this.d.out.queue.push(`m:${m.n}`, deadText(m.n, m.g, m.i, m.f));
    this.#emit(left ? "left" : "dead", cur);
  }

  /** Suspect or dead news about us: refute it, unless about an earlier life or we are leaving. */
  #accused(m: Accusation): void {
    const { self } = this.d;
    if (m.g !== self.generation || self.leaving) return;
    if (m.i >= self.incarnation) this.#refute(m.i);
    // A stale accusation is still circulating: our refutation missed someone, resend it.
    else this.d.out.urgent ??= { text: self.aliveText(), left: 3 };
  }

  /**
   * Someone suspects, at a newer incarnation, a member we already hold dead: it missed the
   * death and will wait out its longest timer alone. Our independent confirmation (sent once
   * per member and incarnation) lets its timer shrink to the minimum.
   */
  #confirmDeath(cur: Member, m: Accusation): void {
    const key = `${m.n}/${m.i}`;
    const to = this.d.table.get(m.f)?.addr;
    if (!to || this.#confirmed.has(key)) return;
    if (this.#confirmed.size > 1024) this.#confirmed.clear();
    this.#confirmed.add(key);
    this.d.out.emit(to, [suspectText(cur.id, cur.generation, m.i, this.d.self.id)]);
  }

  #refute(accusedInc: number): void {
    const { self, out, config } = this.d;
    self.incarnation = accusedInc + 1;
    this.d.stats.refutes++;
    this.d.awareness.apply(1);
    out.event({ type: "incarnation", value: self.incarnation });
    out.queue.push(`m:${self.id}`, self.aliveText());
    out.urgent = { text: self.aliveText(), left: retransmitLimit(config.retransmitMult, this.d.table.size()) };
  }

  #emit(change: MemberChange, m: Member, was?: MemberView["state"]): void {
    this.d.out.event({ type: "member", change, member: this.d.table.view(m), ...(was ? { was } : {}) });
  }
}
