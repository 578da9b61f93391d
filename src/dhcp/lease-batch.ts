/**
 * Write-behind batching for lease writes: ops collected while one burst of datagrams is handled
 * go to the store in a single transaction on the next turn of the event loop (or at once when
 * `maxPending` is reached), instead of one transaction per ACK. Reads see pending writes first,
 * so the server core never observes a stale lease. Only the last op per (network, MAC) is kept,
 * which is what the store would end up with anyway.
 *
 * A reply can therefore leave before its lease row commits (at most one loop turn earlier). For
 * static hosts that is harmless: the address is fixed by configuration and renewals are answered
 * authoritatively even with no row, so a crash in that window loses only bookkeeping.
 */
import type { LeaseOp, LeaseRecord, LeaseStore } from "./leases.ts";
import { leaseKey } from "../model.ts";

export interface BatchOptions {
  /** Flush synchronously once this many distinct leases are waiting (bounds memory). */
  maxPending?: number;
  onError?: (err: unknown) => void;
  /** How to defer the flush; setImmediate runs it after the current batch of I/O callbacks. */
  schedule?: (fn: () => void) => void;
}

export class BatchedLeaseStore implements LeaseStore {
  readonly #pending = new Map<string, LeaseOp>();
  readonly #max: number;
  readonly #onError: (err: unknown) => void;
  readonly #schedule: (fn: () => void) => void;
  #scheduled = false;

  constructor(
    readonly inner: LeaseStore,
    opts: BatchOptions = {},
  ) {
    this.#max = opts.maxPending ?? 512;
    this.#onError = opts.onError ?? ((err) => console.error(err));
    this.#schedule = opts.schedule ?? ((fn) => setImmediate(fn));
  }

  get(networkId: string, mac: string): LeaseRecord | null {
    const p = this.#pending.get(leaseKey(networkId, mac));
    if (p) return p.op === "put" ? { ...p.lease } : null;
    return this.inner.get(networkId, mac);
  }

  put(lease: LeaseRecord): void {
    this.apply([{ op: "put", lease }]);
  }

  delete(networkId: string, mac: string): void {
    this.apply([{ op: "delete", networkId, mac }]);
  }

  list(networkId?: string): LeaseRecord[] {
    this.flush();
    return this.inner.list(networkId);
  }

  apply(ops: readonly LeaseOp[]): void {
    for (const o of ops) {
      const k = o.op === "put" ? leaseKey(o.lease.networkId, o.lease.mac) : leaseKey(o.networkId, o.mac);
      this.#pending.delete(k); // keep insertion order = order of last write
      this.#pending.set(k, o);
    }
    if (this.#pending.size >= this.#max) this.flush();
    else if (!this.#scheduled && this.#pending.size > 0) {
      this.#scheduled = true;
      this.#schedule(() => {
        this.#scheduled = false;
        this.flush();
      });
    }
  }

  /** Writes everything pending in one transaction. */
  flush(): void {
    if (this.#pending.size === 0) return;
    const ops = [...this.#pending.values()];
    this.#pending.clear();
    try {
      this.inner.apply(ops);
    } catch (err) {
      this.#onError(err);
    }
  }

  get pending(): number {
    return this.#pending.size;
  }
}
