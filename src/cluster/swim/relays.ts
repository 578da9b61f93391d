/**
 * Indirect probes we run for others: ping the target for the requester and relay its ack, or
 * tell the requester in time that we heard nothing (a nack). A requester that gets neither
 * acks nor nacks from its helpers blames its own links (Lifeguard), not the target.
 */
import type { PingDeps } from "./outbox.ts";
import { ackText, nackText, pingText } from "./texts.ts";

interface Relay {
  requester: string;
  seq: number;
  nackAt: number;
  expireAt: number;
  nacked: boolean;
}

export type RelayDeps = Pick<PingDeps, "config" | "out" | "nextSeq">;

export class Relays {
  /** By the sequence number of our own ping to the target. */
  readonly #bySeq = new Map<number, Relay>();

  constructor(private readonly d: RelayDeps) {}

  deadline(): number {
    let d = Infinity;
    for (const r of this.#bySeq.values()) d = Math.min(d, r.nacked ? r.expireAt : r.nackAt);
    return d;
  }

  /** `requester` asks us to ping member `n` at `a`; its probe is `q`. */
  request(requester: string, m: { q: number; n: string; a: string }, now: number): void {
    const seq = this.d.nextSeq();
    this.#bySeq.set(seq, {
      requester,
      seq: m.q,
      nackAt: now + this.d.config.probeTimeoutMs,
      expireAt: now + this.d.config.probeIntervalMs,
      nacked: false,
    });
    this.d.out.send(m.a, [pingText(seq, m.n)]);
  }

  /** The target answered our ping `seq`: pass the ack on. */
  ack(seq: number): void {
    const r = this.#bySeq.get(seq);
    if (!r) return;
    this.#bySeq.delete(seq);
    this.d.out.send(r.requester, [ackText(r.seq)]);
  }

  tick(now: number): void {
    for (const [seq, r] of this.#bySeq) {
      if (now >= r.expireAt) this.#bySeq.delete(seq);
      else if (!r.nacked && now >= r.nackAt) {
        r.nacked = true;
        this.d.out.send(r.requester, [nackText(r.seq)]);
      }
    }
  }
}
