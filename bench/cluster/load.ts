/**
 * State-sync load report: the idle and 100-updates/s phases of run.ts, with the bytes each node
 * sends split by message kind, so sync traffic (deltas, digests, repair pages) and membership
 * traffic (probes, suspicion/refutation, push-pull) can be told apart.
 *
 *   bun bench/cluster/load.ts 100                 # N=100 at 0/10/30 % loss
 *   LOSSES=0.3 SEED=2 RATE=100 bun bench/cluster/load.ts 100
 *   SYNC='{"settleMs":500}' bun bench/cluster/load.ts 100   # try other sync settings
 *
 * Per cell: p50/p99/max time for a write at RATE/s (for 10 s) to reach 100 % of the nodes,
 * bytes per node per second idle and under load, split by kind, and queue drops. A packet's
 * headers (IP/UDP, AEAD, envelope) are charged to the kind of its first message; every
 * piggybacked message is charged its own length.
 */
import { SimCluster } from "../../src/cluster/sim/cluster.ts";
import type { ReplicaRow } from "../../src/replication/replica-store.ts";

const SEED = Number(process.env.SEED ?? 1);
const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const SIZES = sizes.length ? sizes : [100];
const LOSSES = (process.env.LOSSES ?? "0,0.1,0.3").split(",").map(Number);
const RATE = Number(process.env.RATE ?? 100);
const LOAD_MS = Number(process.env.LOAD_MS ?? 10_000);
const IDLE_MS = Number(process.env.IDLE_MS ?? 30_000);
const OVERHEAD = 66;
/** Sync settings to try, e.g. SYNC='{"settleMs":500}'. */
const SYNC = JSON.parse(process.env.SYNC ?? "{}");

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const sec = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : "n/a");
const kbps = (bytes: number, n: number, ms: number) => (bytes * 8) / 1000 / n / (ms / 1000);

/** Kind of one wire message: membership letters as is, sync payloads as `sync:<s>`. */
function kindOf(m: unknown): string {
  if (typeof m !== "object" || m === null) return "?";
  const t = (m as { t?: unknown }).t;
  if (t !== "u") return `swim:${String(t)}`;
  const d = (m as { d?: { s?: unknown; t?: unknown } }).d;
  if (d && typeof d.s === "string") return `sync:${d.s}`;
  return "user:other";
}

class Tally {
  readonly bytes = new Map<string, number>();
  total = 0;
  add(data: string): void {
    let env: { m?: unknown[] };
    try {
      env = JSON.parse(data);
    } catch {
      return this.#put("?", data.length + OVERHEAD);
    }
    const msgs = Array.isArray(env.m) ? env.m : [];
    let inner = 0;
    for (const m of msgs) {
      const len = JSON.stringify(m).length;
      inner += len + 1;
      this.#put(kindOf(m), len);
    }
    this.#put(msgs.length ? kindOf(msgs[0]) : "?", data.length - inner + OVERHEAD);
  }
  #put(k: string, n: number): void {
    this.bytes.set(k, (this.bytes.get(k) ?? 0) + n);
    this.total += n;
  }
  report(n: number, ms: number): string {
    const rows = [...this.bytes].sort((a, b) => b[1] - a[1]).map(([k, b]) => `${k} ${kbps(b, n, ms).toFixed(1)}`);
    const sync = [...this.bytes].filter(([k]) => k.startsWith("sync:")).reduce((a, [, b]) => a + b, 0);
    return `total ${kbps(this.total, n, ms).toFixed(1)} kbps (sync ${kbps(sync, n, ms).toFixed(1)}, membership ${kbps(this.total - sync, n, ms).toFixed(1)}) — ${rows.join(", ")}`;
  }
}

function keypair(k: string) {
  return {
    table: "keypair" as const,
    key: k,
    deleted: false,
    data: { name: k, publicKey: "ssh-ed25519 AAAAC3Nza", fingerprint: "ab:cd", type: "ssh" },
  };
}

function runCell(n: number, loss: number): string[] {
  const t0 = performance.now();
  const c = new SimCluster({ n, seed: SEED * 1000 + n + loss * 100, sync: SYNC });
  const { sim } = c;
  sim.runUntil(() => c.members.every((m) => m.node.swim.liveCount === n - 1), 120_000, 500);
  sim.loss = loss;
  sim.runFor(5000);
  sim.runUntil(() => c.members.every((m) => m.node.swim.queued === 0), 300_000, 1000);
  sim.runFor(5000);
  let tally = new Tally();
  sim.onSend = (_f, _t, data) => tally.add(data);
  sim.runFor(IDLE_MS);
  const idle = tally.report(n, IDLE_MS);
  sim.onSend = undefined;

  const track = new Map<string, { t0: number; count: number; t100: number }>();
  for (const m of c.members) {
    m.store.listeners.length = 0;
    m.store.listeners.push((row: ReplicaRow, remote: boolean) => {
      const e = track.get(`${row.key}@${row.hlc}`);
      if (!e || !remote) return;
      if (++e.count >= n && e.t100 < 0) e.t100 = sim.now - e.t0;
    });
  }
  // Single updates, one every 500 ms, before the load.
  for (let k = 0; k < 20; k++) {
    const row = c.write(Math.floor(sim.random() * n), keypair(`s${k}`));
    track.set(`${row.key}@${row.hlc}`, { t0: sim.now, count: 1, t100: -1 });
    sim.runFor(500);
  }
  sim.runUntil(() => [...track.values()].every((e) => e.t100 >= 0), 30_000, 100);
  const single = [...track.values()].map((e) => (e.t100 >= 0 ? e.t100 : Infinity));
  track.clear();
  sim.runFor(5000);
  const dropped0 = c.members.reduce((a, m) => a + m.node.swim.queueDropped, 0);
  tally = new Tally();
  sim.onSend = (_f, _t, data) => tally.add(data);
  const step = 1000 / RATE;
  let maxQueue = 0;
  for (let k = 0; k < (LOAD_MS / 1000) * RATE; k++) {
    const i = Math.floor(sim.random() * n);
    const row = c.write(i, keypair(`l${k}`));
    track.set(`${row.key}@${row.hlc}`, { t0: sim.now, count: 1, t100: -1 });
    sim.runFor(step);
    if (k % RATE === 0) maxQueue = Math.max(maxQueue, ...c.members.map((m) => m.node.swim.queued));
  }
  const load = tally.report(n, LOAD_MS);
  const tail = new Tally();
  sim.onSend = (_f, _t, data) => tail.add(data);
  const t1 = sim.now;
  sim.runUntil(() => [...track.values()].every((e) => e.t100 >= 0), 60_000, 100);
  const tailMs = sim.now - t1;
  const dropped = c.members.reduce((a, m) => a + m.node.swim.queueDropped, 0) - dropped0;
  const st = (k: "applied" | "stale" | "pageRows" | "pageStale") =>
    c.members.reduce((a, m) => a + m.node.sync.stats[k], 0);
  const t100 = [...track.values()].map((e) => (e.t100 >= 0 ? e.t100 : Infinity));
  const unreached = t100.filter((x) => !Number.isFinite(x)).length;
  return [
    `== N=${n} loss=${loss * 100}% seed ${SEED} (${((performance.now() - t0) / 1000).toFixed(0)} s wall)`,
    `  single updates → 100 %: p50 ${sec(pct(single, 50))}  p99 ${sec(pct(single, 99))}  max ${sec(Math.max(...single))}`,
    `  ${RATE} upd/s for ${LOAD_MS / 1000} s → 100 %: p50 ${sec(pct(t100, 50))}  p99 ${sec(pct(t100, 99))}  max ${sec(Math.max(...t100))}  unreached ${unreached}/${t100.length}; queue drops ${dropped}, max queue ${maxQueue}`,
    `  p99 by write time: ${[0, 1, 2, 3, 4].map((q) => sec(pct(t100.slice((q * t100.length) / 5, ((q + 1) * t100.length) / 5), 99))).join(" · ")} (fifths of the load phase)`,
    `  rows received: applied ${st("applied")}, already held ${st("stale")} (of those in pages: ${st("pageRows")} rows, ${st("pageStale")} already held)`,
    `  idle:      ${idle}`,
    `  load:      ${load}`,
    `  after load (${sec(tailMs)}): ${tail.report(n, Math.max(1, tailMs))}`,
  ];
}

for (const n of SIZES) for (const loss of LOSSES) console.log(runCell(n, loss).join("\n"));
