/** Helpers that build simulated clusters of bare membership cores (tests and bench). */
import type { SwimConfig } from "../swim/config.ts";
import { type SwimCore as Core, SwimCore, type SwimEvent } from "../swim/core.ts";
import { mulberry32 } from "./prng.ts";
import { type SimNode, type SimPacket, Simulator } from "./simulator.ts";

export class SwimSimNode implements SimNode {
  constructor(
    readonly core: Core,
    readonly onEvent: (addr: string, e: SwimEvent, now: number) => void = () => {},
    private readonly clock: { now: number } = { now: 0 },
  ) {}

  get addr(): string {
    return this.core.addr;
  }

  receive(now: number, from: string, data: string): void {
    this.clock.now = now;
    this.core.receive(now, from, data);
  }

  tick(now: number): void {
    this.clock.now = now;
    this.core.tick(now);
  }

  nextDeadline(): number {
    return this.core.nextDeadline();
  }

  drainPackets(): SimPacket[] {
    const { packets, events } = this.core.drain();
    for (const e of events) this.onEvent(this.addr, e, this.clock.now);
    return packets;
  }
}

export interface SwimClusterOptions {
  n: number;
  seed: number;
  loss?: number;
  config?: Partial<SwimConfig>;
  onEvent?: (addr: string, e: SwimEvent, now: number) => void;
}

/** Node i is "n<i>"; every node joins through n0 (and one random earlier node). */
export function swimCluster(o: SwimClusterOptions): { sim: Simulator; nodes: SwimSimNode[] } {
  const sim = new Simulator({ seed: o.seed, loss: o.loss });
  const nodes: SwimSimNode[] = [];
  for (let i = 0; i < o.n; i++) {
    const core = new SwimCore({
      id: `n${i}`,
      addr: `n${i}`,
      generation: 1,
      incarnation: 0,
      now: sim.now,
      random: mulberry32(o.seed * 7919 + i),
      config: o.config,
    });
    const node = new SwimSimNode(core, o.onEvent);
    if (i > 0) core.join(sim.now, ["n0", `n${Math.floor(sim.random() * i)}`]);
    sim.add(node);
    nodes.push(node);
  }
  return { sim, nodes };
}

/** True when every running node sees exactly the other running nodes as alive. */
export function converged(sim: Simulator, nodes: SwimSimNode[]): boolean {
  const running = nodes.filter((n) => sim.isAlive(n.addr));
  const want = new Set(running.map((n) => n.core.id));
  for (const n of running) {
    if (n.core.liveCount !== want.size - 1) return false;
    for (const m of n.core.members()) {
      if (m.id === n.core.id) continue;
      if ((m.state === "alive") !== want.has(m.id)) return false;
    }
  }
  return true;
}
