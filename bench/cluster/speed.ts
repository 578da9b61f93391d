/**
 * Simulator speed check with a fixed seed: formation, 30 s idle, a few updates and one kill.
 * Prints wall time per phase plus the simulated outputs (event counts, bytes, reach and
 * detection times), so two builds can be compared for both speed and identical behaviour.
 *
 *   bun bench/cluster/speed.ts 300          # N=300 (default), seed 1
 *   SEED=3 LOSS=0.1 bun bench/cluster/speed.ts 1000
 */
import { SimCluster } from "../../src/cluster/sim/cluster.ts";
import type { SwimEvent } from "../../src/cluster/swim/core.ts";
import type { ReplicaRow } from "../../src/replication/replica-store.ts";

const N = Number(process.argv[2] ?? 300);
const SEED = Number(process.env.SEED ?? 1);
const LOSS = Number(process.env.LOSS ?? 0);
const t0 = performance.now();
const wall = () => ((performance.now() - t0) / 1000).toFixed(2);
const out: string[] = [];
const events = new Map<string, number>();
const onEvent = (_i: number, e: SwimEvent) => {
  const k = e.type === "member" ? `member:${e.change}` : e.type;
  events.set(k, (events.get(k) ?? 0) + 1);
};
const c = new SimCluster({ n: N, seed: SEED, onEvent });
const { sim } = c;
const bytes = () => c.members.reduce((a, m) => a + sim.bytesSent(m.node.addr), 0);

const formed = sim.runUntil(() => c.members.every((m) => m.node.swim.liveCount === N - 1), 120_000, 500);
out.push(`formed at ${formed} ms sim, bytes ${bytes()}`);
process.stderr.write(`formation ${wall()} s wall\n`);
sim.loss = LOSS;
sim.runFor(30_000);
out.push(`after idle: bytes ${bytes()}, queued ${c.members.reduce((a, m) => a + m.node.swim.queued, 0)}`);
process.stderr.write(`idle ${wall()} s wall\n`);

const reach = new Map<string, { t0: number; n: number; t100: number }>();
for (const m of c.members) {
  m.store.listeners.push((row: ReplicaRow, remote: boolean) => {
    const e = reach.get(row.key);
    if (!e || !remote) return;
    if (++e.n === N - 1) e.t100 = sim.now - e.t0;
  });
}
for (let k = 0; k < 5; k++) {
  const i = Math.floor(sim.random() * N);
  reach.set(`u${k}`, { t0: sim.now, n: 0, t100: -1 });
  c.write(i, {
    table: "keypair",
    key: `u${k}`,
    deleted: false,
    data: { name: `u${k}`, publicKey: "ssh-ed25519 AAAAC3Nza", fingerprint: "ab:cd", type: "ssh" },
  });
  sim.runFor(250);
}
sim.runFor(10_000);
out.push(`reach100 ms: ${[...reach.values()].map((e) => e.t100.toFixed(3)).join(" ")}`);
process.stderr.write(`updates ${wall()} s wall\n`);

const victim = `n${1 + Math.floor(sim.random() * (N - 1))}`;
sim.kill(victim);
const start = sim.now;
const at = sim.runUntil(() => c.running().every((m) => m.node.swim.stateOf(victim) === "dead"), 60_000, 250);
out.push(`kill ${victim}: all dead after ${at === null ? "never" : at - start} ms`);
out.push(`bytes total ${bytes()}`);
out.push(
  `events ${[...events]
    .sort()
    .map(([k, v]) => `${k}=${v}`)
    .join(" ")}`,
);
process.stderr.write(`kill ${wall()} s wall\n`);
console.log(out.join("\n"));
console.error(`total ${wall()} s wall (N=${N} seed=${SEED} loss=${LOSS})`);
