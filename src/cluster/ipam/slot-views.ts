/**
 * The IPAM slots (blocks, floating IPs, voters) as the replicated `ipam_slot` rows (keyed
 * slot@epoch) tell them: the latest record per slot, every host that ever held it, and the
 * slots one host holds. Rebuilt only when a slot row changed: an allocation asks for them many
 * times (its blocks, every block's record while claiming) and slots change rarely.
 */
import type { TableScan } from "../../replication/replica-store.ts";
import type { SlotRecord } from "./promises.ts";

interface View {
  at: number;
  latest: Map<string, SlotRecord>;
  owners: Map<string, Set<string>>;
  /** Memo of `held` per prefix. */
  held: Map<string, string[]>;
}

export class SlotViews {
  #view: View | undefined;

  constructor(
    private readonly store: TableScan,
    private readonly self: string,
  ) {}

  /** Slot → latest record: the highest epoch wins (each epoch has a single writer). */
  latest(): ReadonlyMap<string, SlotRecord> {
    return this.#get().latest;
  }

  /** Every host that held `slot` at any epoch. */
  owners(slot: string): ReadonlySet<string> {
    return this.#get().owners.get(slot) ?? new Set();
  }

  /** Slots under `prefix` that we hold (prefix cut off), sorted. */
  held(prefix: string): string[] {
    const view = this.#get();
    let out = view.held.get(prefix);
    if (!out) {
      out = [];
      for (const [slot, r] of view.latest)
        if (r.owner === this.self && !r.released && slot.startsWith(prefix)) out.push(slot.slice(prefix.length));
      view.held.set(prefix, out.sort());
    }
    return [...out];
  }

  #get(): View {
    const at = this.store.changes("ipam_slot");
    if (this.#view?.at === at) return this.#view;
    const latest = new Map<string, SlotRecord>();
    const owners = new Map<string, Set<string>>();
    for (const r of this.store.scan("ipam_slot")) {
      const d = r.data;
      if (r.deleted || !d) continue;
      const slot = String(d.slot);
      const cur = latest.get(slot);
      if (!cur || Number(d.epoch) > cur.epoch)
        latest.set(slot, { owner: String(d.owner), epoch: Number(d.epoch), released: Boolean(d.released) });
      owners.set(slot, (owners.get(slot) ?? new Set<string>()).add(String(d.owner)));
    }
    return (this.#view = { at, latest, owners, held: new Map() });
  }
}
