/**
 * The backstop: scan the replicated allocations for any address held by two hosts at once.
 * It must never find anything; when it does, an alarm is raised (counter + callback).
 */
import type { ReplicaRow } from "../../replication/replica-store.ts";

export interface Duplicate {
  networkId: string;
  address: string;
  hosts: string[];
}

export function findDuplicates(allocs: Iterable<ReplicaRow>): Duplicate[] {
  const by = new Map<string, Set<string>>();
  for (const r of allocs) {
    if (r.deleted || !r.data) continue;
    const k = `${String(r.data.networkId)}\u0000${String(r.data.address)}`;
    let s = by.get(k);
    if (!s) by.set(k, (s = new Set()));
    s.add(String(r.data.host));
  }
  const out: Duplicate[] = [];
  for (const [k, s] of by) {
    if (s.size < 2) continue;
    const [networkId, address] = k.split("\u0000");
    out.push({ networkId, address, hosts: [...s].sort() });
  }
  return out;
}
