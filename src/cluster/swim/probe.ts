/**
 * The probe cycle: one member at a time in shuffled round-robin order, a direct ping, then
 * helpers and direct retries when the ack is late, and a failed probe reported as suspicion.
 * Missed nacks and late acks feed our own health score (Lifeguard).
 */
import type { Awareness } from "./awareness.ts";
import { scaledProbeInterval } from "./math.ts";
import { type Member, isGone } from "./members.ts";
import { SUSPECT } from "./messages.ts";
import type { PingDeps } from "./outbox.ts";
import { pingText, relayText, stateText } from "./texts.ts";

interface Probe {
  target: string;
  seq: number;
  sentAt: number;
  deadline: number;
  indirect: boolean;
  /** When the last round of direct retries goes out (after the indirect request). */
  retryAt: number;
  expectedNacks: number;
  nacks: number;
}

/** What a prober works with; `failed` hears of a member that did not answer in time. */
export interface ProberDeps extends PingDeps {
  awareness: Awareness;
  failed: (m: Member, now: number) => void;
}

export class Prober {
  #probe: Probe | null = null;
  #order: string[] = [];
  #orderIdx = 0;
  #rounds = 0;
  #nextProbeAt: number;

  constructor(
    private readonly d: ProberDeps,
    now: number,
  ) {
    // A random first probe: hosts that start together do not probe in lockstep.
    this.#nextProbeAt = now + Math.floor(d.random() * d.config.probeIntervalMs);
  }

  deadline(): number {
    const p = this.#probe;
    if (!p) return this.#nextProbeAt;
    return p.indirect ? Math.min(p.deadline, p.retryAt) : p.sentAt + this.d.config.probeTimeoutMs;
  }

  tick(now: number): void {
    const p = this.#probe;
    if (p && !p.indirect && now >= p.sentAt + this.d.config.probeTimeoutMs) this.#sendIndirect(p);
    if (p?.indirect && now >= p.retryAt) {
      p.retryAt = Infinity;
      this.#retryDirect(p);
    }
    if (p && now >= p.deadline) this.#fail(p, now);
    if (!this.#probe && now >= this.#nextProbeAt) this.#start(now);
  }

  /** A new member takes a random place among those not yet probed this round. */
  schedule(id: string): void {
    const at = this.#orderIdx + Math.floor(this.d.random() * (this.#order.length - this.#orderIdx + 1));
    this.#order.splice(at, 0, id);
  }

  /** True when `seq` answers the current probe. */
  ack(seq: number, now: number): boolean {
    const p = this.#probe;
    if (!p || p.seq !== seq) return false;
    this.#probe = null;
    this.d.table.rtt.set(p.target, now - p.sentAt);
    this.d.awareness.apply(-1);
    return true;
  }

  nack(seq: number): void {
    if (this.#probe && this.#probe.seq === seq) this.#probe.nacks++;
  }

  #start(now: number): void {
    const { config, table } = this.d;
    const interval = scaledProbeInterval(config.probeIntervalMs, this.d.awareness.score);
    this.#nextProbeAt = now + interval;
    if (++this.#rounds % 16 === 0) table.reap(now, config.deadReapMs);
    const m = this.#nextTarget();
    if (!m) return;
    const seq = this.d.nextSeq();
    this.#probe = {
      target: m.id,
      seq,
      sentAt: now,
      deadline: now + interval,
      indirect: false,
      retryAt: Infinity,
      expectedNacks: 0,
      nacks: 0,
    };
    const parts = [pingText(seq, m.id)];
    // Buddy system: tell a suspect member directly so it can refute at once.
    if (m.state === SUSPECT) parts.push(stateText(m, this.d.selfId));
    this.d.out.send(m.addr, parts);
  }

  #nextTarget(): Member | undefined {
    for (let tries = 0; tries <= this.#order.length; tries++) {
      if (this.#orderIdx >= this.#order.length) {
        this.#order = shuffle([...this.d.table.live.values()], this.d.random);
        this.#orderIdx = 0;
        if (this.#order.length === 0) return undefined;
      }
      const m = this.d.table.get(this.#order[this.#orderIdx++]);
      if (m && !isGone(m)) return m;
    }
    return undefined;
  }

  #sendIndirect(p: Probe): void {
    const { config, table } = this.d;
    p.indirect = true;
    const m = table.get(p.target);
    if (!m) return;
    const helpers = table.live.pick(config.indirectChecks, this.d.random, new Set([p.target]));
    p.expectedNacks = helpers.length;
    const text = relayText(p.seq, m.id, m.addr);
    for (const h of helpers) this.d.out.send(table.get(h)!.addr, [text]);
    this.#retryDirect(p);
    p.retryAt = p.sentAt + config.probeTimeoutMs + Math.floor((p.deadline - p.sentAt - config.probeTimeoutMs) / 2);
  }

  /**
   * Direct retries play the part of memberlist's TCP fallback: a lossy path must not be
   * enough to accuse a member. They cost nothing while first pings are answered; at 30 % loss
   * they cut false suspicions from about 1 probe in 9 to 1 in 60.
   */
  #retryDirect(p: Probe): void {
    const m = this.d.table.get(p.target);
    if (!m) return;
    const ping = pingText(p.seq, m.id);
    for (let i = 0; i < this.d.config.directRetries; i++) this.d.out.emit(m.addr, [ping]);
  }

  #fail(p: Probe, now: number): void {
    this.#probe = null;
    // We ran late by more than a probe timeout: the silence is most likely our own stall.
    if (now - p.deadline > this.d.config.probeTimeoutMs) {
      this.d.awareness.apply(1);
      return;
    }
    this.d.awareness.apply(p.expectedNacks > 0 ? Math.max(0, p.expectedNacks - p.nacks) : 1);
    const m = this.d.table.get(p.target);
    // Also when already suspect: our own failed probe is an independent confirmation.
    if (m && !isGone(m)) this.d.failed(m, now);
  }
}

function shuffle<T>(a: T[], random: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
