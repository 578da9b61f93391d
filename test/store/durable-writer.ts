/**
 * Child process for durable.test.ts: opens a store in DIR and makes N writes of KIND
 * ("promise": IPAM votes, "slot": block grants, "plain": an ordinary replicated row).
 *   bun durable-writer.ts DIR KIND N
 */
import { join } from "node:path";
import { Store } from "../../src/store/db.ts";
import { SqlitePromiseStore, SqliteReplicaStore } from "../../src/store/replica.ts";

const [dir, kind, n] = process.argv.slice(2);
const store = new Store(join(dir, "netlet.db"), { nodeId: "n1" });
const promises = new SqlitePromiseStore(store);
const replica = new SqliteReplicaStore(store);
for (let i = 0; i < Number(n); i++) {
  const v = store.version();
  if (kind === "promise") promises.put(`net/10.0.${i}.0`, { owner: "n2", epoch: i + 1, released: false });
  else if (kind === "slot")
    replica.put({
      table: "ipam_slot",
      key: `net/10.0.${i}.0@1`,
      origin: v.origin,
      hlc: v.hlc,
      deleted: false,
      data: { slot: `net/10.0.${i}.0`, owner: "n1", epoch: 1, released: false },
    });
  // A replicated row whose loss breaks nothing (an IPAM progress note, kept like any other).
  else
    replica.put({
      table: "ipam_note" as never,
      key: `n${i}`,
      origin: v.origin,
      hlc: v.hlc,
      deleted: false,
      data: { i },
    });
}
store.close();
