/** The member table and the indexed set used to pick random live members in O(1). */
import { ALIVE, DEAD, LEFT, type MemberState, type MemberTuple } from "./messages.ts";

export interface Member {
  id: string;
  addr: string;
  generation: number;
  incarnation: number;
  state: MemberState;
  /** When the state last changed (core time). */
  since: number;
}

/** Read-only view handed to callers (CLI `netlet members`, VXLAN flood lists). */
export interface MemberView {
  id: string;
  addr: string;
  generation: number;
  incarnation: number;
  state: "alive" | "suspect" | "dead" | "left";
  since: number;
  /** Last measured round-trip time of a direct probe, ms. */
  rttMs: number | null;
}

export const STATE_NAMES = ["alive", "suspect", "dead", "left"] as const;

export const isGone = (m: Member): boolean => m.state === DEAD || m.state === LEFT;

export function toTuple(m: Member): MemberTuple {
  return [m.id, m.addr, m.generation, m.incarnation, m.state];
}

export function newMember(id: string, addr: string, generation: number, incarnation: number, now: number): Member {
  return { id, addr, generation, incarnation, state: ALIVE, since: now };
}

/** A set of ids with O(1) add, delete and uniform random pick. */
export class IndexedSet {
  readonly #items: string[] = [];
  readonly #index = new Map<string, number>();

  get size(): number {
    return this.#items.length;
  }

  has(id: string): boolean {
    return this.#index.has(id);
  }

  add(id: string): void {
    if (this.#index.has(id)) return;
    this.#index.set(id, this.#items.length);
    this.#items.push(id);
  }

  delete(id: string): void {
    const i = this.#index.get(id);
    if (i === undefined) return;
    const last = this.#items.pop()!;
    this.#index.delete(id);
    if (last !== id) {
      this.#items[i] = last;
      this.#index.set(last, i);
    }
  }

  values(): readonly string[] {
    return this.#items;
  }

  /** Up to k distinct random ids, none of them in `exclude`. */
  pick(k: number, random: () => number, exclude: ReadonlySet<string> = new Set()): string[] {
    const out: string[] = [];
    const n = this.#items.length;
    if (n === 0) return out;
    const seen = new Set<string>();
    // Rejection sampling is cheap while k is small against n; fall back to a scan otherwise.
    for (let tries = 0; out.length < k && tries < 4 * k + 8; tries++) {
      const id = this.#items[Math.floor(random() * n)];
      if (seen.has(id) || exclude.has(id)) continue;
      seen.add(id);
      out.push(id);
    }
    if (out.length < k && n <= 4 * k + 8) {
      for (const id of this.#items) if (out.length < k && !seen.has(id) && !exclude.has(id)) out.push(id);
    }
    return out;
  }
}
