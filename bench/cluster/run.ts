/**
 * Cluster simulator report: the real membership + sync cores on the deterministic network.
 *
 *   bun bench/cluster/run.ts            # 100 and 1,000 nodes, 0/10/30 % loss
 *   bun bench/cluster/run.ts 100        # only the 100-node rows
 *   SEED=7 LOSSES=0,0.3 bun bench/cluster/run.ts 100 1000
 *   COLD_JOIN=0 ...                     # skip the cold-join row
 *
 * Per cell: time for an update to reach 99.9 % and 100 % of live nodes (p50/p99), time until
 * every live node agrees a killed node is dead, healthy nodes declared dead while 10 % of the
 * nodes stall for 2 s / 5 s, and bytes sent per node per second (IP+UDP and AEAD overhead
 * included) idle and at 100 cluster-wide updates/s. Anchors from gossip.md are printed next to
 * the figures; they are memberlist's model numbers, not a run of memberlist here.
 */
import { SIM_EPOCH_MS, SimCluster } from "../../src/cluster/sim/cluster.ts";
import type { SwimEvent } from "../../src/cluster/swim/core.ts";
import { DEFAULT_SWIM_CONFIG } from "../../src/cluster/swim/config.ts";
import { pushPullInterval } from "../../src/cluster/swim/math.ts";
import { MemoryReplicaStore } from "../../src/cluster/sync/replica-store.ts";
import type { ReplicaRow } from "../../src/replication/replica-store.ts";

const SEED = Number(process.env.SEED ?? 1);
const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const SIZES = sizes.length ? sizes : [100, 1000];
const LOSSES = (process.env.LOSSES ?? "0,0.1,0.3").split(",").map(Number);

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const sec = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : "n/a");

interface Cell {
  n: number;
  loss: number;
  reach999: number[];
  reach100: number[];
  unreached: number;
  detect: number[];
  fp2: number;
  fp5: number;
  idleBps: number;
  loadBps: number;
  load999: number[];
  load100: number[];
  heal100: number[];
  healMembers: number;
  wallS: number;
}

function keypair(k: string) {
  return {
    table: "keypair" as const,
    key: k,
    deleted: false,
    data: { name: k, publicKey: "ssh-ed25519 AAAAC3Nza", fingerprint: "ab:cd", type: "ssh" },
  };
}

function runCell(n: number, loss: number): Cell {
  const t0 = performance.now();
  const phase = (name: string) =>
    process.stderr.write(`[N=${n} loss=${loss}] ${name} at ${((performance.now() - t0) / 1000).toFixed(0)} s wall\n`);
  const killed = new Set<string>();
  let fpCount = 0;
  const fpSeen = new Set<string>();
  const onEvent = (_i: number, e: SwimEvent) => {
    if (e.type === "member" && e.change === "dead" && !killed.has(e.member.id) && !fpSeen.has(e.member.id)) {
      fpSeen.add(e.member.id);
      fpCount++;
    }
  };
  const c = new SimCluster({ n, seed: SEED * 1000 + n + loss * 100, onEvent });
  const { sim } = c;
  // Form the cluster without loss, then switch the loss on.
  sim.runUntil(() => c.members.every((m) => m.node.swim.liveCount === n - 1), 120_000, 500);
  sim.loss = loss;
  sim.runFor(5000);

  phase("formed");
  // Update propagation: one update every 250 ms from a random node.
  const track = new Map<string, { t0: number; count: number; t999: number; t100: number }>();
  let liveCount = c.running().length;
  const watch = () => {
    for (const m of c.members) {
      m.store.listeners.length = 0;
      m.store.listeners.push((row: ReplicaRow, remote: boolean) => {
        const e = track.get(`${row.key}@${row.hlc}`);
        if (!e || !remote) return;
        e.count++;
        const live = liveCount;
        if (e.t999 < 0 && e.count >= Math.ceil(0.999 * live)) e.t999 = sim.now - e.t0;
        if (e.t100 < 0 && e.count >= live) e.t100 = sim.now - e.t0;
      });
    }
  };
  watch();
  const issue = (k: string) => {
    const running = c.running();
    const i = Number(running[Math.floor(sim.random() * running.length)].node.id.slice(1));
    const row = c.write(i, keypair(k));
    const live = running.length;
    track.set(`${row.key}@${row.hlc}`, { t0: sim.now, count: 1, t999: live <= 1 ? 0 : -1, t100: -1 });
  };
  const UPDATES = n >= 1000 ? 20 : 40;
  for (let k = 0; k < UPDATES; k++) {
    issue(`u${k}`);
    sim.runFor(250);
  }
  sim.runUntil(() => [...track.values()].every((e) => e.t100 >= 0), 30_000, 250);
  const entries = [...track.values()];
  const reach999 = entries.map((e) => (e.t999 >= 0 ? e.t999 : Infinity));
  const reach100 = entries.map((e) => (e.t100 >= 0 ? e.t100 : Infinity));
  const unreached = entries.filter((e) => e.t100 < 0).length;

  phase("updates done");
  // Idle bandwidth, once the broadcast queues have drained (the join storm of a freshly formed
  // 1,000-node cluster keeps gossip busy for a minute; that is not idle).
  sim.runUntil(() => c.members.every((m) => m.node.swim.queued === 0), 300_000, 1000);
  sim.runFor(5000);
  const bytes = () => c.members.reduce((a, m) => a + sim.bytesSent(m.node.addr), 0);
  let b0 = bytes();
  // One whole push-pull period, so the full-table exchanges are in the average, not left out
  // (or caught in a burst) by a short window.
  const IDLE = Math.max(30_000, pushPullInterval(DEFAULT_SWIM_CONFIG.pushPullIntervalMs, n));
  sim.runFor(IDLE);
  const idleBps = (bytes() - b0) / n / (IDLE / 1000);

  phase("idle done");
  // 100 updates/s cluster-wide for 10 s.
  track.clear();
  b0 = bytes();
  const LOAD = 10_000;
  for (let k = 0; k < LOAD / 10; k++) {
    issue(`l${k}`);
    sim.runFor(10);
  }
  const loadBps = (bytes() - b0) / n / (LOAD / 1000);
  sim.runUntil(() => [...track.values()].every((e) => e.t100 >= 0), 30_000, 250);
  const load999 = [...track.values()].map((e) => (e.t999 >= 0 ? e.t999 : Infinity));
  const load100 = [...track.values()].map((e) => (e.t100 >= 0 ? e.t100 : Infinity));

  phase("load done");
  // Fail-stop detection: kill nodes one at a time, time until every live node says dead.
  const detect: number[] = [];
  const KILLS = n >= 1000 ? 5 : 10;
  for (let k = 0; k < KILLS; k++) {
    const victim = c.running()[1 + Math.floor(sim.random() * (c.running().length - 1))].node.id;
    killed.add(victim);
    sim.kill(victim);
    liveCount--;
    const start = sim.now;
    const at = sim.runUntil(() => c.running().every((m) => m.node.swim.stateOf(victim) === "dead"), 120_000, 250);
    detect.push(at === null ? Infinity : at - start);
    sim.runFor(2000);
  }

  phase("kills done");
  // False positives: 10 % of live nodes stall for S ms at random moments, 4 times each.
  const stalls = (ms: number) => {
    fpCount = 0;
    fpSeen.clear();
    const victims = c
      .running()
      .slice(1)
      .filter(() => sim.random() < 0.1);
    const horizon = 80_000;
    const plan: { at: number; addr: string }[] = [];
    // One stall per 20 s window, so two stalls never merge into one longer one.
    for (const v of victims)
      for (let r = 0; r < 4; r++)
        plan.push({ at: sim.now + r * 20_000 + sim.random() * (15_000 - ms), addr: v.node.addr });
    plan.sort((a, b) => a.at - b.at);
    const end = sim.now + horizon + 20_000;
    for (const p of plan) {
      sim.run(p.at);
      sim.pause(p.addr, ms);
    }
    sim.run(end);
    return fpCount;
  };
  const fp2 = stalls(2000);
  const fp5 = stalls(5000);

  phase("stalls done");
  // T3: a partition into halves for 20 s, writes on both sides, then healing: time until every
  // write reached every node, and until every node sees every other one alive again.
  const run = c.running();
  const left = run.slice(0, Math.floor(run.length / 2)).map((m) => m.node.addr);
  sim.partition([left, run.slice(left.length).map((m) => m.node.addr)]);
  track.clear();
  for (let k = 0; k < 20; k++) {
    issue(`p${k}`);
    sim.runFor(500);
  }
  sim.runFor(10_000);
  sim.heal();
  const healAt = sim.now;
  const membersAt = sim.runUntil(
    () => c.running().every((m) => m.node.swim.liveCount === run.length - 1),
    120_000,
    250,
  );
  sim.runUntil(() => [...track.values()].every((e) => e.t100 >= 0), 120_000, 250);
  const heal100 = [...track.values()].map((e) => (e.t100 >= 0 ? Math.max(0, e.t0 + e.t100 - healAt) : Infinity));
  const healMembers = membersAt === null ? Infinity : membersAt - healAt;
  return {
    n,
    loss,
    reach999,
    reach100,
    unreached,
    detect,
    fp2,
    fp5,
    idleBps,
    loadBps,
    load999,
    load100,
    heal100,
    healMembers,
    wallS: (performance.now() - t0) / 1000,
  };
}

/** T8: a new node pulls the whole state (default 50,000 rows from 100 origins) from a 20-node cluster. */
function coldJoin(rows = 50_000, origins = 100): string {
  const t0 = performance.now();
  const all: ReplicaRow[] = [];
  for (let o = 0; o < origins; o++) {
    for (let k = 0; k < rows / origins; k++) {
      const hlc = `${String(SIM_EPOCH_MS - 3_600_000 + k).padStart(15, "0")}.${String(o).padStart(5, "0")}`;
      all.push({ ...keypair(`o${o}k${k}`), origin: `src${o}`, hlc });
    }
  }
  const marks = Object.fromEntries(
    [...new Set(all.map((r) => r.origin))].map((o) => [o, all.filter((r) => r.origin === o).at(-1)!.hlc]),
  );
  const makeStore = () => {
    const s = new MemoryReplicaStore();
    for (const r of all) s.apply(r);
    s.saveMarks(marks);
    return s;
  };
  const c = new SimCluster({ n: 20, seed: SEED, makeStore });
  c.sim.run(10_000);
  const fresh = new MemoryReplicaStore();
  const b0 = c.members.reduce((a, m) => a + c.sim.bytesSent(m.node.addr), 0);
  const start = c.sim.now;
  c.spawn(20, 1, ["n3"], fresh);
  const at = c.sim.runUntil(() => fresh.size === rows, 120_000, 100);
  const mb = (c.members.reduce((a, m) => a + c.sim.bytesSent(m.node.addr), 0) - b0) / 1e6;
  const rss = process.memoryUsage().rss / 1e6;
  return `cold join of ${rows} rows (${origins} origins) from 20 nodes: ${at === null ? `incomplete after 120 s (${fresh.size} rows)` : sec(at - start)} simulated, ${mb.toFixed(1)} MB sent, process RSS ${rss.toFixed(0)} MB (whole simulator), ${((performance.now() - t0) / 1000).toFixed(0)} s wall   | target < 10 s (T8)`;
}

const ANCHOR_999: Record<number, Record<number, string>> = {
  100: { 0: "1.6 s", 0.1: "1.8 s", 0.3: "2.2 s" },
  1000: { 0: "2.0 s", 0.1: "2.2 s", 0.3: "2.8 s" },
};
const ANCHOR_DETECT: Record<number, string> = { 100: "≈12 s (worst 48 s)", 1000: "≈16 s (worst 72 s)" };

console.log(`netlet cluster simulator report (seed ${SEED}); bytes include 28 B IP/UDP + 38 B AEAD per packet`);
if (process.env.COLD_JOIN !== "0") console.log(coldJoin());
for (const n of SIZES) {
  for (const loss of LOSSES) {
    const r = runCell(n, loss);
    const kbps = (bps: number) => `${((bps * 8) / 1000).toFixed(1)} kbps`;
    console.log(`\n== N=${n} loss=${loss * 100}%  (simulated in ${r.wallS.toFixed(0)} s wall)`);
    console.log(
      `  update → 99.9 %  p50 ${sec(pct(r.reach999, 50))}  p99 ${sec(pct(r.reach999, 99))}   | Serf model ${ANCHOR_999[n]?.[loss] ?? "-"}; target p99 ≤ 1.5 s (N=100) / 2.5 s (N=1000)`,
    );
    console.log(
      `  update → 100 %   p50 ${sec(pct(r.reach100, 50))}  p99 ${sec(pct(r.reach100, 99))}  max ${sec(Math.max(...r.reach100))}  unreached ${r.unreached}/${r.reach100.length}   | memberlist tail: push-pull 90–180 s; target p99 ≤ 5 s`,
    );
    console.log(
      `  at 100 upd/s: → 99.9 % p99 ${sec(pct(r.load999, 99))}, → 100 % p99 ${sec(pct(r.load100, 99))} (${r.load100.length} updates)`,
    );
    console.log(
      `  killed node dead everywhere  p50 ${sec(pct(r.detect, 50))}  p99 ${sec(pct(r.detect, 99))}  (${r.detect.length} kills)   | memberlist ${ANCHOR_DETECT[n] ?? "-"}; target p99 ≤ 8 s / 10 s`,
    );
    console.log(
      `  healthy nodes declared dead: 2 s stalls ${r.fp2}, 5 s stalls ${r.fp5}   | target 0 below min suspicion`,
    );
    console.log(
      `  after a 20 s partition into halves heals: writes of both sides everywhere p50 ${sec(pct(r.heal100, 50))}  p99 ${sec(pct(r.heal100, 99))}  max ${sec(Math.max(...r.heal100))}; every node sees every other alive after ${sec(r.healMembers)}   | memberlist: push-pull, 90–180 s; target ≤ 5 s p99 (T3)`,
    );
    console.log(
      `  bytes sent per node: idle ${kbps(r.idleBps)}, at 100 upd/s ${kbps(r.loadBps)}   | memberlist idle ≈3 kbps + 25–30 kbps push-pull (N=1000); Serf ceiling 328 kbps; target idle ≤ 8 kbps`,
    );
  }
}
