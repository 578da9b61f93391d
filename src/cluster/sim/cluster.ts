/** Simulated clusters of full nodes (membership + sync + optional layers), for tests and bench. */
import { HlcClock } from "../../replication/hlc.ts";
import { type IpamConfig, Ipam } from "../ipam/ipam.ts";
import { MemoryPromiseStore } from "../ipam/promises.ts";
import { ClusterNode } from "../node.ts";
import type { SwimConfig } from "../swim/config.ts";
import type { SwimEvent } from "../swim/core.ts";
import type { SyncConfig } from "../sync/engine.ts";
import { MemoryReplicaStore } from "../sync/replica-store.ts";
import type { ReplicaRow } from "../../replication/replica-store.ts";
import { mulberry32 } from "./prng.ts";
import { Simulator } from "./simulator.ts";

/** Virtual time 0 maps to this wall-clock ms, so HLCs look like real ones. */
export const SIM_EPOCH_MS = 1_763_000_000_000;

export interface SimMember {
  node: ClusterNode;
  store: MemoryReplicaStore;
  clock: HlcClock;
  promises: MemoryPromiseStore;
  ipam?: Ipam;
}

export interface ClusterOptions {
  n: number;
  seed: number;
  loss?: number;
  swim?: Partial<SwimConfig>;
  sync?: Partial<SyncConfig>;
  /** Attach IPAM to every node (n0 bootstraps the voter set). */
  ipam?: Partial<IpamConfig>;
  /** Store for node i at first start (pre-populated state for cold-join runs). */
  makeStore?: (i: number) => MemoryReplicaStore;
  /** Membership events of node i (false-positive counting in bench). */
  onEvent?: (i: number, e: SwimEvent, now: number) => void;
  /** Per-node clock offset in ms (clock skew). */
  skew?: (i: number) => number;
}

export class SimCluster {
  readonly sim: Simulator;
  readonly members: SimMember[] = [];
  constructor(readonly o: ClusterOptions) {
    this.sim = new Simulator({ seed: o.seed, loss: o.loss });
    for (let i = 0; i < o.n; i++)
      this.spawn(i, 1, i > 0 ? ["n0", `n${Math.floor(this.sim.random() * i)}`] : [], o.makeStore?.(i));
  }

  /** Start (or restart, with a given generation and store) node i and join it through `via`. */
  spawn(
    i: number,
    generation: number,
    via: string[],
    store = new MemoryReplicaStore(),
    promises = new MemoryPromiseStore(),
  ): SimMember {
    const skew = this.o.skew?.(i) ?? 0;
    const clock = new HlcClock(() => Math.floor(SIM_EPOCH_MS + this.sim.now + skew), 5_000);
    const node = new ClusterNode({
      id: `n${i}`,
      addr: `n${i}`,
      generation,
      incarnation: 0,
      now: this.sim.now,
      random: mulberry32(this.o.seed * 7919 + i * 31 + generation),
      clock,
      store,
      swim: this.o.swim,
      sync: this.o.sync,
      onEvent: this.o.onEvent ? (e, now) => this.o.onEvent!(i, e, now) : undefined,
    });
    if (via.length) node.swim.join(this.sim.now, via);
    const m: SimMember = { node, store, clock, promises };
    if (this.o.ipam) {
      m.ipam = new Ipam({
        self: node.id,
        generation,
        now: this.sim.now,
        random: mulberry32(this.o.seed * 104_729 + i * 7 + generation),
        peers: node.swim,
        store,
        write: (r) => node.write(r),
        caughtUp: () => node.sync.caughtUp(),
        promises,
        bootstrap: i === 0 && generation === 1,
        config: this.o.ipam,
      });
      node.layers.push(m.ipam);
    }
    this.members[i] = m;
    if (this.sim.node(node.addr)) this.sim.replace(node);
    else this.sim.add(node);
    return m;
  }

  /** A local write on node i: stamp, store, publish. */
  write(i: number, row: Omit<ReplicaRow, "origin" | "hlc">): ReplicaRow {
    const m = this.members[i];
    let full: ReplicaRow | undefined;
    this.sim.poke(m.node.addr, () => m.node.act(this.sim.now, (n) => (full = n.write(row))));
    if (!full) throw new Error(`node n${i} is not running`);
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
    const sig = (s: MemoryReplicaStore) =>
      s
        .rows()
        .map((r) => `${r.table}/${r.key}@${r.hlc}/${r.origin}`)
        .sort()
        .join("\n");
    const first = sig(run[0].store);
    return run.every((m) => sig(m.store) === first);
  }
}
