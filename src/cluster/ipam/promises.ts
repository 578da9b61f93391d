/**
 * Voter side of slot agreement. A slot (an address block or a floating IP) is held by one host
 * at an epoch. A voter grants each (slot, epoch) at most once and persists the grant before
 * answering, so two claimants can never both collect a majority for the same epoch, and a
 * restarted voter never agrees twice. A new epoch is granted only after the holder released
 * the previous one (or the operator forgot that host).
 */
import type { PromiseStore, SlotPromise } from "../../replication/promise-store.ts";

export class MemoryPromiseStore implements PromiseStore {
  readonly map = new Map<string, SlotPromise>();
  get(slot: string): SlotPromise | undefined {
    return this.map.get(slot);
  }
  put(slot: string, p: SlotPromise): void {
    this.map.set(slot, { ...p });
  }
  empty(): boolean {
    return this.map.size === 0;
  }
  after(slot: string, limit: number): [string, SlotPromise][] {
    const keys = [...this.map.keys()]
      .filter((k) => k > slot)
      .sort()
      .slice(0, limit);
    return keys.map((k) => [k, { ...this.map.get(k)! }]);
  }
}

/** What the cluster's replicated state says about a slot (the holder's own row). */
export interface SlotRecord {
  owner: string;
  epoch: number;
  released: boolean;
}

/**
 * Decide a claim. `known` is the replicated record (if any); `forgotten` says whether an
 * operator declared a host gone. Returns the grant or the state that explains a refusal.
 */
export function decideVote(
  stored: SlotPromise | undefined,
  known: SlotRecord | undefined,
  claimant: string,
  epoch: number,
  forgotten: (host: string) => boolean,
): { grant: true } | { grant: false; state: SlotRecord } {
  const free = (p: SlotRecord) => p.released || forgotten(p.owner);
  // Our own promise is at least as fresh as a replicated record of the same or an older epoch
  // (a release reaches voters directly before the holder's row does).
  const views = stored && known && stored.epoch >= known.epoch ? [stored] : [stored, known];
  for (const p of views) {
    if (!p) continue;
    if (p.owner === claimant && p.epoch === epoch && !p.released) continue;
    if (epoch > p.epoch && free(p)) continue;
    return { grant: false, state: { owner: p.owner, epoch: p.epoch, released: free(p) } };
  }
  return { grant: true };
}
