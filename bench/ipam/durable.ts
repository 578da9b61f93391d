/**
 * The cost of durable IPAM writes: N promises (votes) written the durable way (fsync of the WAL
 * per commit, as the store now does) against the same N promises written with synchronous =
 * NORMAL (the previous behaviour), in the same run on the same disk. Prints the per-commit
 * times and their ratio. Run: bun bench/ipam/durable.ts [N]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Store } from "../../src/store/db.ts";
import { SqlitePromiseStore } from "../../src/store/replica.ts";

const N = Number(process.argv[2] ?? 500);
const dir = mkdtempSync(join(process.env.BENCH_DIR ?? "/var/tmp", "netlet-bench-durable-"));
const store = new Store(join(dir, "netlet.db"), { nodeId: "bench" });
const promises = new SqlitePromiseStore(store);

function run(label: string, put: (i: number) => void): number {
  const t = performance.now();
  for (let i = 0; i < N; i++) put(i);
  const per = (performance.now() - t) / N;
  console.log(`${label}: ${N} commits, ${(per * 1000).toFixed(0)} µs per commit`);
  return per;
}

const plain = run("synchronous = NORMAL (before)", (i) =>
  store.db
    .query("INSERT OR REPLACE INTO ipam_promises (slot, owner, epoch, released) VALUES (?,?,?,?)")
    .run(`p/${i}`, "n2", 1, 0),
);
const durable = run("durable (fsync per vote)     ", (i) =>
  promises.put(`d/${i}`, { owner: "n2", epoch: 1, released: false }),
);
console.log(
  `ratio durable / NORMAL: ${(durable / plain).toFixed(1)}x; ${Math.round(1000 / durable)} votes/s on this disk`,
);
store.close();
rmSync(dir, { recursive: true, force: true });
