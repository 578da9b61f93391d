/** The members we know (never us): entries by id, the live subset for random picks, RTTs. */
import { IndexedSet, type Member, type MemberView, STATE_NAMES, isGone } from "./members.ts";
import { DEAD, LEFT, type MemberState } from "./messages.ts";

export class MemberTable {
  readonly byId = new Map<string, Member>();
  /** Ids of members alive or suspect. */
  readonly live = new IndexedSet();
  /** Last measured round-trip time of a direct probe, by id. */
  readonly rtt = new Map<string, number>();

  get(id: string): Member | undefined {
    return this.byId.get(id);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Live members plus us: the cluster size the protocol's formulas scale with. */
  size(): number {
    return this.live.size + 1;
  }

  add(m: Member): void {
    this.byId.set(m.id, m);
    this.live.add(m.id);
  }

  setState(m: Member, s: MemberState, now: number): void {
    m.state = s;
    m.since = now;
    if (s === DEAD || s === LEFT) this.live.delete(m.id);
    else this.live.add(m.id);
  }

  /** Never heard of, or held dead (not left): a packet from it means we missed news. */
  missing(id: string): boolean {
    const m = this.byId.get(id);
    return !m || m.state === DEAD;
  }

  /** Forget members dead or left for longer than `afterMs`. */
  reap(now: number, afterMs: number): void {
    for (const [id, m] of this.byId) {
      if (isGone(m) && now - m.since > afterMs) this.byId.delete(id);
    }
  }

  view(m: Member): MemberView {
    return {
      id: m.id,
      addr: m.addr,
      generation: m.generation,
      incarnation: m.incarnation,
      state: STATE_NAMES[m.state],
      since: m.since,
      rttMs: this.rtt.get(m.id) ?? null,
    };
  }
}
