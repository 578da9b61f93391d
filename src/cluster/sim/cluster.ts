/** Simulated clusters of full nodes (membership + sync + optional layers), for tests and bench. */
import { HlcClock } from "../../store/hlc.ts";
import { ClusterNode } from "../node.ts";
import type { SwimConfig } from "../swim/config.ts";
import type { SyncConfig } from "../sync/engine.ts";
import { MemoryReplicaStore, type ReplicaRow } from "../sync/replica-store.ts";
import { mulberry32 } from "./prng.ts";
import { Simulator } from "./simulator.ts";

/** Virtual time 0 maps to this wall-clock ms, so HLCs look like real ones. */
export const SIM_EPOCH_MS = 1_763_000_000_000;

export interface SimMember {
  node: ClusterNode;
  store: MemoryReplicaStore;
  clock: HlcClock;
}

export interface ClusterOptions {
  n: number;
  seed: number;
  loss?: number;
  swim?: Partial<SwimConfig>;
  sync?: Partial<SyncConfig>;
  /** Per-node clock offset in ms (clock skew). */
  skew?: (i: number) => number;
}

export class SimCluster {
  readonly sim: Simulator;
  readonly members: SimMember[] = [];
  constructor(readonly o: ClusterOptions) {
    this.sim = new Simulator({ seed: o.seed, loss: o.loss });
    for (let i = 0; i < o.n; i++) this.spawn(i, 1, i > 0 ? ["n0", `n${Math.floor(this.sim.random() * i)}`] : []);
  }

  /** Start (or restart, with a given generation and store) node i and join it through `via`. */
  spawn(i: number, generation: number, via: string[], store = new MemoryReplicaStore()): SimMember {
    const skew = this.o.skew?.(i) ?? 0;
    const clock = new HlcClock(() => SIM_EPOCH_MS + this.sim.now + skew, 5_000);
    const node = new ClusterNode({
      id: `n${i}`, addr: `n${i}`, generation, incarnation: 0, now: this.sim.now,
      random: mulberry32(this.o.seed * 7919 + i * 31 + generation), clock, store, swim: this.o.swim, sync: this.o.sync,
    });
    if (via.length) node.swim.join(this.sim.now, via);
    const m = { node, store, clock };
    this.members[i] = m;
    if (this.sim.node(node.addr)) this.sim.replace(node);
    else this.sim.add(node);
    return m;
  }

  /** A local write on node i: stamp, store, publish. */
  write(i: number, row: Omit<ReplicaRow, "origin" | "hlc">): ReplicaRow {
    const m = this.members[i];
    const full: ReplicaRow = { ...row, origin: m.node.id, hlc: m.clock.tick() };
    this.sim.poke(m.node.addr, () => {
      m.store.put(full);
      m.node.act(this.sim.now, (n) => n.sync.publish(full));
    });
    return full;
  }

  running(): SimMember[] {
    return this.members.filter((m) => this.sim.isAlive(m.node.addr));
  }

  /** How many running nodes hold exactly this version of the row. */
  holders(row: ReplicaRow): number {
    return this.running().filter((m) => {
      const r = m.store.get(row.table, row.key);
      return r !== undefined && r.hlc === row.hlc && r.origin === row.origin;
    }).length;
  }

  /** True when every running node's store holds the same rows at the same versions. */
  storesAgree(): boolean {
    const run = this.running();
    const sig = (s: MemoryReplicaStore) => s.rows().map((r) => `${r.table}/${r.key}@${r.hlc}/${r.origin}`).sort().join("\n");
    const first = sig(run[0].store);
    return run.every((m) => sig(m.store) === first);
  }
}
