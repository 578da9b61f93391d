/** Slot promises as a voter persists them; the vote itself is in src/cluster/ipam/promises.ts. */
export interface SlotPromise {
  owner: string;
  epoch: number;
  released: boolean;
}

/** Persisted promises (SQLite in the agent: write and fsync before the vote leaves). */
export interface PromiseStore {
  get(slot: string): SlotPromise | undefined;
  put(slot: string, p: SlotPromise): void;
  /** True when nothing was ever stored (a new or wiped state directory). */
  empty(): boolean;
  /** Up to `limit` promises with slots sorted after `slot` ("" = from the start). */
  after(slot: string, limit: number): [string, SlotPromise][];
}
