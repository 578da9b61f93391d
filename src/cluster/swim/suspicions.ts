/**
 * The running suspicions, one per suspect member: their timers, the nudges that tell the
 * suspect of the accusation, and the final checks before a member is declared dead.
 */
import { suspicionConfirmations, suspicionTimeout } from "./math.ts";
import type { Member } from "./members.ts";
import { SUSPECT } from "./messages.ts";
import type { PingDeps } from "./outbox.ts";
import { Suspicion } from "./suspicion.ts";
import { pingText, relayText, stateText } from "./texts.ts";

/** What the timers work with; `expired` hears of a suspect whose final checks went unanswered. */
export interface SuspicionDeps extends PingDeps {
  expired: (m: Member, now: number) => void;
}

export class Suspicions {
  readonly #byId = new Map<string, Suspicion>();

  constructor(private readonly d: SuspicionDeps) {}

  get(id: string): Suspicion | undefined {
    return this.#byId.get(id);
  }

  delete(id: string): void {
    this.#byId.delete(id);
  }

  /** Start suspecting `id`, first accused by `from`; timers follow the cluster's size. */
  start(id: string, from: string, now: number): void {
    const { config } = this.d;
    const n = this.d.table.size();
    const min = suspicionTimeout(config.suspicionStallMs, config.suspicionSpreadMs, n);
    const k = suspicionConfirmations(config.suspicionConfirmations, n);
    this.#byId.set(id, new Suspicion(now, k, min, min * config.suspicionMaxTimeoutMult, from));
  }

  deadline(): number {
    let d = Infinity;
    for (const s of this.#byId.values()) d = Math.min(d, s.deadline, s.nudgeAt);
    return d;
  }

  tick(now: number): void {
    for (const [id, s] of this.#byId) {
      if (now >= s.nudgeAt) this.#nudge(id, s, now);
      if (now >= s.deadline) this.#expire(id, now);
    }
  }

  /** Time we could not observe (our own stall) does not count against suspects. */
  forgive(stallMs: number): void {
    for (const s of this.#byId.values()) s.deadline += stallMs;
  }

  /**
   * An answer to the last check before death: the member lives. Keep suspecting (only its
   * own refutation may clear that) but give the refutation another full minimum to arrive.
   */
  ackCheck(seq: number, now: number): boolean {
    for (const s of this.#byId.values()) {
      if (!s.checkSeqs.includes(seq)) continue;
      s.checks = 0;
      s.checkSeqs = [];
      s.deadline = now + s.minMs;
      return true;
    }
    return false;
  }

  /**
   * Gossip can miss us: a refutation that never reached us would let our timer run out on a
   * live member. So every fifth of the minimum while the suspicion stands, each holder tells
   * the suspect directly (the buddy system, from all holders rather than only the prober); a
   * live one answers with its refutation on the ack. One packet per holder per second or so.
   */
  #nudge(id: string, s: Suspicion, now: number): void {
    s.nudgeAt = now + Math.floor(s.minMs / 5);
    const m = this.d.table.get(id);
    if (!m || m.state !== SUSPECT) return;
    this.d.out.emit(m.addr, [pingText(this.d.nextSeq(), id), stateText(m, this.d.selfId)]);
  }

  #expire(id: string, now: number): void {
    const { config, table, out } = this.d;
    const s = this.#byId.get(id);
    const m = table.get(id);
    // Last chance before declaring death: rounds of direct pings carrying the accusation (and
    // helpers); a live member answers with its refutation piggybacked on the ack. One round
    // when others confirmed the accusation independently, two on our word alone (lossy links).
    if (s && s.checks < (s.confirmed ? 1 : 2) && m && m.state === SUSPECT) {
      s.checks++;
      s.deadline = now + config.probeTimeoutMs;
      const seq = this.d.nextSeq();
      s.checkSeqs.push(seq);
      const check = [pingText(seq, id), stateText(m, this.d.selfId)];
      out.send(m.addr, check);
      for (let i = 0; i < config.directRetries; i++) out.emit(m.addr, check);
      // Also through two helpers: under heavy loss one direct exchange proves little.
      const req = relayText(seq, id, m.addr);
      for (const h of table.live.pick(2, this.d.random, new Set([id]))) out.emit(table.get(h)!.addr, [req]);
      return;
    }
    this.#byId.delete(id);
    if (m && m.state === SUSPECT) this.d.expired(m, now);
  }
}
