/**
 * Majority agreement on slots, both roles. As claimant: ask every voter, succeed with a
 * majority of grants, give up cleanly (releasing partial grants) on a majority of refusals or
 * a timeout, and fail at once when a majority is not even reachable. As voter: decide with
 * `decideVote`, persisting the promise before the answer leaves.
 */
import { createHash } from "node:crypto";
import type { PromiseStore } from "../../replication/promise-store.ts";
import { type SlotRecord, decideVote } from "./promises.ts";
import type { IpamMsg } from "./messages.ts";

export interface AgreementPeers {
  self: string;
  isReachable(id: string): boolean;
  send(id: string, data: IpamMsg): void;
}

export interface AgreementView {
  /** Current voters (hosts admitted by a majority, not forgotten), self included if admitted. */
  voters(): string[];
  record(slot: string): SlotRecord | undefined;
  forgotten(host: string): boolean;
  /** False while a voter with a wiped state directory may not vote yet. */
  mayVote(now: number): boolean;
}

export type ClaimOutcome =
  | { ok: true; slot: string; epoch: number }
  | { ok: false; slot: string; error: string; state?: SlotRecord };

interface Claim {
  k: number;
  slot: string;
  epoch: number;
  voters: string[];
  vs: string;
  /** Reasons voters gave for refusing (no slot state involved). */
  why: Set<Refusal>;
  need: number;
  grants: Set<string>;
  refusals: Set<string>;
  seen?: SlotRecord;
  deadline: number;
  /** Next resend of the request to voters that have not answered (requests or votes get lost). */
  resendAt: number;
  retries: number;
  done: (o: ClaimOutcome) => void;
}

export const majority = (n: number): number => Math.floor(n / 2) + 1;

type Refusal = "view" | "busy" | "novote";
type Vote = { grant: true } | { grant: false; state?: SlotRecord; why?: Refusal };
const REFUSALS: Record<Refusal, string> = {
  view: "voters see a different voter set (state sync in progress; retried)",
  busy: "a voter admission is in progress (retried)",
  novote: "a voter may not vote yet",
};

/** "held by h at epoch e", as a refusal reports a slot. */
const heldText = (r: SlotRecord): string => `held by ${r.owner} at epoch ${r.epoch}${r.released ? " (released)" : ""}`;

/** A short, order-independent fingerprint of a voter set, carried by every claim. */
export function votersFingerprint(voters: readonly string[]): string {
  return createHash("sha256")
    .update([...voters].sort().join("\n"))
    .digest("base64url")
    .slice(0, 16);
}

export class Agreement {
  readonly #claims = new Map<number, Claim>();
  readonly #bySlot = new Map<string, Claim>();
  #k = 0;
  /**
   * The voter admission we granted that has not yet shown up in replicated state (nor been
   * released, nor its host forgotten). While it stands we vote on nothing else (see #vote).
   */
  #admitting: { slot: string; host: string } | null = null;
  /** Whether #admitting was rebuilt from the promise store after a restart. */
  #restored = false;
  readonly stats = { claimsOk: 0, claimsFailed: 0, votesGranted: 0, votesRefused: 0 };

  constructor(
    readonly peers: AgreementPeers,
    readonly view: AgreementView,
    readonly promises: PromiseStore,
    readonly timeoutMs: number,
    readonly maxRetries = 3,
  ) {}

  pending(slot: string): boolean {
    return this.#bySlot.has(slot);
  }

  /** A claim of ours is running for a slot starting with `prefix` (a block of one network). */
  anyPending(prefix: string): boolean {
    for (const slot of this.#bySlot.keys()) if (slot.startsWith(prefix)) return true;
    return false;
  }

  /** Start a claim; `done` is called exactly once (possibly right away). */
  claim(slot: string, now: number, done: (o: ClaimOutcome) => void, retries = 0, minEpoch = 1): void {
    if (this.#bySlot.has(slot)) return done({ ok: false, slot, error: `a claim for ${slot} is already running` });
    const voters = this.view.voters();
    const need = majority(voters.length);
    const reachable = voters.filter((v) => this.peers.isReachable(v)).length;
    if (voters.length === 0 || reachable < need) {
      this.stats.claimsFailed++;
      return done({
        ok: false,
        slot,
        error: `no majority reachable: ${reachable} of ${voters.length} voters, ${need} needed`,
      });
    }
    const known = this.view.record(slot);
    const promised = this.promises.get(slot);
    const epoch = Math.max(known?.epoch ?? 0, promised?.epoch ?? 0, minEpoch - 1) + 1;
    const c: Claim = {
      k: ++this.#k,
      slot,
      epoch,
      voters,
      vs: votersFingerprint(voters),
      why: new Set(),
      need,
      grants: new Set(),
      refusals: new Set(),
      deadline: now + this.timeoutMs,
      resendAt: now + this.#resendMs(),
      retries,
      done,
    };
    this.#claims.set(c.k, c);
    this.#bySlot.set(slot, c);
    for (const v of voters) {
      if (v === this.peers.self) this.#onVote(c, v, this.#vote(v, slot, epoch, c.vs, now), now);
      else this.peers.send(v, { i: "c", k: c.k, slot, e: epoch, vs: c.vs });
    }
  }

  /** Release a slot we hold (or abandon a partial claim) at `epoch`, telling every voter. */
  release(slot: string, epoch: number, voters = this.view.voters()): void {
    this.#onRelease(this.peers.self, slot, epoch);
    for (const v of voters) if (v !== this.peers.self) this.peers.send(v, { i: "l", slot, e: epoch });
  }

  handle(from: string, m: IpamMsg, now: number): void {
    switch (m.i) {
      case "c": {
        const r = this.#vote(from, m.slot, m.e, m.vs, now);
        this.peers.send(
          from,
          r.grant ? { i: "v", k: m.k, ok: true } : { i: "v", k: m.k, ok: false, st: r.state, why: r.why },
        );
        return;
      }
      case "v": {
        const c = this.#claims.get(m.k);
        if (c?.voters.includes(from))
          this.#onVote(c, from, m.ok ? { grant: true } : { grant: false, state: m.st, why: m.why }, now);
        return;
      }
      case "l":
        return this.#onRelease(from, m.slot, m.e);
      case "t":
      case "q":
      case "p":
        return;
    }
  }

  nextDeadline(): number {
    let d = Infinity;
    for (const c of this.#claims.values()) d = Math.min(d, c.deadline, c.resendAt);
    return d;
  }

  tick(now: number): void {
    for (const c of [...this.#claims.values()]) {
      if (now >= c.deadline)
        this.#fail(
          c,
          `timed out after ${this.timeoutMs} ms with ${c.grants.size} of ${c.need} grants${this.#refusals(c)}`,
          now,
        );
      else if (now >= c.resendAt) this.#resend(c);
    }
  }

  /** A fifth of the timeout: a lossy link gets four more chances before the claim gives up. */
  #resendMs(): number {
    return Math.max(1, Math.floor(this.timeoutMs / 5));
  }

  /** Voting is idempotent for the same claimant and epoch, so asking again is safe. */
  #resend(c: Claim): void {
    c.resendAt += this.#resendMs();
    for (const v of c.voters) {
      if (v === this.peers.self || c.grants.has(v) || c.refusals.has(v)) continue;
      this.peers.send(v, { i: "c", k: c.k, slot: c.slot, e: c.epoch, vs: c.vs });
    }
  }

  #vote(claimant: string, slot: string, epoch: number, vs: string | undefined, now: number): Vote {
    const voters = this.view.voters();
    // A claim counts its majority in the claimant's view of the voter set. Grants only come
    // from voters that share that view, so a claimant that missed an admission cannot win
    // with a majority of the old set while the new set grants the same slot elsewhere.
    if (!voters.includes(this.peers.self) || !this.view.mayVote(now)) {
      this.stats.votesRefused++;
      return { grant: false, why: "novote" };
    }
    if (vs !== votersFingerprint(voters)) {
      this.stats.votesRefused++;
      return { grant: false, why: "view" };
    }
    // Admissions change the voter set, so they go one at a time, and while one we granted has
    // not shown up in replicated state we vote on nothing else: a claim counted in the old set
    // must not slip in between (any two majorities share a voter, who refuses).
    if (!this.#restored) this.#restorePending();
    const a = this.#admitting;
    if (a && (this.view.record(a.slot) || this.view.forgotten(a.host))) this.#admitting = null;
    else if (a && a.slot !== slot) {
      this.stats.votesRefused++;
      return { grant: false, why: "busy" };
    }
    const d = decideVote(this.promises.get(slot), this.view.record(slot), claimant, epoch, (h) =>
      this.view.forgotten(h),
    );
    if (!d.grant) {
      this.stats.votesRefused++;
      return d;
    }
    // Persist before answering: a restarted voter must remember what it promised.
    this.promises.put(slot, { owner: claimant, epoch, released: false });
    if (slot.startsWith("voter:")) this.#admitting = { slot, host: claimant };
    this.stats.votesGranted++;
    return d;
  }

  /**
   * After a restart the admission we granted last may still be in flight: its promise is
   * durable, unreleased, and no record of it may have reached us yet. Treat it as pending.
   */
  #restorePending(): void {
    this.#restored = true;
    for (let after = "voter:"; ; ) {
      const page = this.promises.after(after, 64);
      for (const [slot, p] of page) {
        if (!slot.startsWith("voter:")) return;
        if (!p.released && !this.view.record(slot) && !this.view.forgotten(p.owner))
          this.#admitting = { slot, host: p.owner };
      }
      if (page.length < 64) return;
      after = page[page.length - 1][0];
    }
  }

  #onRelease(from: string, slot: string, epoch: number): void {
    const p = this.promises.get(slot);
    if (p && p.owner === from && p.epoch === epoch && !p.released) this.promises.put(slot, { ...p, released: true });
    if (this.#admitting?.slot === slot) this.#admitting = null;
  }

  #onVote(c: Claim, voter: string, r: Vote, now: number): void {
    if (!this.#claims.has(c.k)) return;
    if (r.grant) c.grants.add(voter);
    else {
      c.refusals.add(voter);
      if (r.why) c.why.add(r.why);
      if (r.state && (!c.seen || r.state.epoch > c.seen.epoch)) c.seen = r.state;
    }
    if (c.grants.size >= c.need) {
      this.#finish(c);
      this.stats.claimsOk++;
      c.done({ ok: true, slot: c.slot, epoch: c.epoch });
    } else if (c.refusals.size > c.voters.length - c.need) {
      const who = c.seen ? heldText(c.seen) : `refused${this.#refusals(c)}`;
      this.#fail(c, who, now);
    }
  }

  /** Why voters refused, for the error an operator reads. */
  #refusals(c: Claim): string {
    const seen = c.seen ? `; ${heldText(c.seen)}` : "";
    return seen + [...c.why].map((w) => `; ${REFUSALS[w]}`).join("");
  }

  #fail(c: Claim, why: string, now: number): void {
    this.#finish(c);
    // Hand back partial grants so this epoch does not stay blocked; every voter is told, since
    // a grant whose answer was lost is still a promise at that voter. Only when every voter
    // refused is there nothing to hand back.
    if (c.refusals.size < c.voters.length) this.release(c.slot, c.epoch, c.voters);
    if (c.seen?.released && c.retries < this.maxRetries)
      return this.claim(c.slot, now, c.done, c.retries + 1, Math.max(c.seen.epoch, c.epoch) + 1);
    // A voter still holds an earlier attempt of ours (its release was lost): that epoch is
    // ours to finish, and voting on it again is idempotent.
    if (
      c.seen &&
      c.seen.owner === this.peers.self &&
      !c.seen.released &&
      c.seen.epoch !== c.epoch &&
      c.retries < this.maxRetries
    ) {
      return this.claim(c.slot, now, c.done, c.retries + 1, c.seen.epoch);
    }
    this.stats.claimsFailed++;
    c.done({ ok: false, slot: c.slot, error: `claim of ${c.slot} failed: ${why}`, state: c.seen });
  }

  #finish(c: Claim): void {
    this.#claims.delete(c.k);
    this.#bySlot.delete(c.slot);
  }
}
