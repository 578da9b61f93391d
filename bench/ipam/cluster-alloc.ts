/**
 * The cluster allocation path in one process (T10): a single-voter cluster node over a file
 * SQLite store allocates ALLOCS fixed IPs of a /16 one after another, as the agent does for a
 * boot (Ipam.allocate: pick from our blocks, write the replicated allocation row, keep the
 * headroom). Prints p50 / p99 / max per allocation in slices, so growth with the number of
 * allocations shows.
 *
 *   bun bench/ipam/cluster-alloc.ts            # 5,000 allocations
 *   ALLOCS=20000 bun bench/ipam/cluster-alloc.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ipam } from "../../src/cluster/ipam/ipam.ts";
import { ClusterNode } from "../../src/cluster/node.ts";
import { Store } from "../../src/store/db.ts";
import { createNetworks } from "../../src/store/networks.ts";
import { SqlitePromiseStore, SqliteReplicaStore } from "../../src/store/replica.ts";
import { netParams } from "../../test/store/fixtures.ts";

const ALLOCS = Number(process.env.ALLOCS ?? 5000);
const dir = mkdtempSync(join(tmpdir(), "netlet-bench-calloc-"));
try {
  const store = new Store(join(dir, "state.db"), { nodeId: "h1" });
  const replica = new SqliteReplicaStore(store);
  const [net] = createNetworks(store, netParams({ cidr: "10.64.0.0/16" }));
  const node = new ClusterNode({
    id: "h1",
    addr: "127.0.0.1:1",
    generation: 1,
    incarnation: 0,
    now: Date.now(),
    random: Math.random,
    clock: store.clock,
    store: replica,
  });
  const ipam = new Ipam({
    self: "h1",
    generation: 1,
    now: Date.now(),
    random: Math.random,
    store: replica,
    promises: new SqlitePromiseStore(store),
    bootstrap: true,
    peers: { isReachable: (id) => id === "h1", addressOf: () => undefined, sendUser: () => true },
    write: (row) => node.write(row),
  });
  node.layers.push(ipam);
  node.act(Date.now(), () => ipam.tick(Date.now()));
  const times: number[] = [];
  for (let k = 0; k < ALLOCS; k++) {
    let ok = false;
    for (let tries = 0; !ok && tries < 2000; tries++) {
      const t = performance.now();
      node.act(Date.now(), () => {
        ok = ipam.allocate(net.id, `vif-${k}`, Date.now()).ok;
      });
      if (ok) times.push(performance.now() - t);
      else {
        await Bun.sleep(1);
        node.act(Date.now(), () => ipam.tick(Date.now()));
      }
    }
    if (!ok) throw new Error(`allocation ${k} failed`);
  }
  const pct = (xs: number[], p: number) =>
    [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];
  const slice = Math.ceil(ALLOCS / 5);
  for (let i = 0; i < ALLOCS; i += slice) {
    const xs = times.slice(i, i + slice);
    console.log(
      `allocations ${i + 1}–${i + xs.length}: p50 ${pct(xs, 50).toFixed(3)} ms  p99 ${pct(xs, 99).toFixed(3)} ms  max ${Math.max(...xs).toFixed(3)} ms`,
    );
  }
  store.db.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
