/**
 * The lease seam between the DHCP server and the store. The server core only reads leases and
 * returns `LeaseOp`s; the shell applies them through `LeaseStore.apply`, one transaction per
 * call. The store stamps the replication version (origin, hlc) itself, so records here carry
 * none. Times are milliseconds since the epoch.
 */
import { type Lease, type LeaseState, leaseKey } from "../model.ts";

export type LeaseRecord = Omit<Lease, "origin" | "hlc" | "deleted">;

export type LeaseOp = { op: "put"; lease: LeaseRecord } | { op: "delete"; networkId: string; mac: string };

export interface LeaseStore {
  get(networkId: string, mac: string): LeaseRecord | null;
  put(lease: LeaseRecord): void;
  delete(networkId: string, mac: string): void;
  /** All leases, or those of one network. */
  list(networkId?: string): LeaseRecord[];
  /** Applies the ops atomically (one SQLite transaction in the store's implementation). */
  apply(ops: readonly LeaseOp[]): void;
}

export type LeaseEventType = "lease.added" | "lease.renewed" | "lease.released" | "lease.expired" | "lease.declined";

export interface LeaseEvent {
  type: LeaseEventType;
  networkId: string;
  mac: string;
  address: string;
  hostname: string | null;
  at: number;
}

/** States in which a lease is still bound to a client. */
export function isActive(state: LeaseState): boolean {
  return state === "leased" || state === "offered";
}

/** In-memory store for tests and for running without persistence. */
export class MemoryLeaseStore implements LeaseStore {
  readonly #rows = new Map<string, LeaseRecord>();

  get(networkId: string, mac: string): LeaseRecord | null {
    return this.#rows.get(leaseKey(networkId, mac)) ?? null;
  }

  put(lease: LeaseRecord): void {
    this.#rows.set(leaseKey(lease.networkId, lease.mac), { ...lease });
  }

  delete(networkId: string, mac: string): void {
    this.#rows.delete(leaseKey(networkId, mac));
  }

  list(networkId?: string): LeaseRecord[] {
    const all = [...this.#rows.values()].map((l) => ({ ...l }));
    return networkId === undefined ? all : all.filter((l) => l.networkId === networkId);
  }

  apply(ops: readonly LeaseOp[]): void {
    for (const o of ops) {
      if (o.op === "put") this.put(o.lease);
      else this.delete(o.networkId, o.mac);
    }
  }
}
