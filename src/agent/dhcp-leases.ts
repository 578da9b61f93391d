/**
 * The DHCP server's `LeaseStore` over the agent's SQLite store (src/store/leases.ts): every
 * `apply` is one IMMEDIATE transaction, whose change events reach subscribers after the commit.
 */
import type { Store } from "../store/db.ts";
import { deleteLease, getLease, listLeases, putLease } from "../store/leases.ts";
import type { LeaseOp, LeaseRecord, LeaseStore } from "../dhcp/leases.ts";

function record(l: LeaseRecord & { origin?: string; hlc?: string; deleted?: boolean }): LeaseRecord {
  const { origin: _o, hlc: _h, deleted: _d, ...rest } = l;
  return rest;
}

export function storeLeaseStore(store: Store): LeaseStore {
  return {
    get: (networkId, mac) => {
      const l = getLease(store, networkId, mac);
      return l ? record(l) : null;
    },
    put: (lease) => putLease(store, lease),
    delete: (networkId, mac) => deleteLease(store, networkId, mac),
    list: (networkId) => listLeases(store, networkId).map(record),
    apply: (ops: readonly LeaseOp[]) =>
      store.write(() => {
        for (const o of ops) {
          if (o.op === "put") putLease(store, o.lease);
          else deleteLease(store, o.networkId, o.mac);
        }
      }),
  };
}
