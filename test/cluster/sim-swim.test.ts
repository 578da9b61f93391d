import { describe, expect, test } from "bun:test";
import { converged, swimCluster } from "../../src/cluster/sim/swim-cluster.ts";
import type { SwimEvent } from "../../src/cluster/swim/core.ts";

const stateOf = (n: { core: { members(): { id: string; state: string }[] } }, id: string) =>
  n.core.members().find((m) => m.id === id)?.state;

describe("simulated membership", () => {
  test("the simulator is deterministic for a seed", () => {
    const run = () => {
      const { sim, nodes } = swimCluster({ n: 12, seed: 5, loss: 0.1 });
      sim.run(5000);
      return nodes.map((n) => `${n.core.incarnation}/${n.core.stats.packetsOut}`).join(",");
    };
    expect(run()).toBe(run());
  });

  test("40 nodes converge under 10 % loss", () => {
    const { sim, nodes } = swimCluster({ n: 40, seed: 1, loss: 0.1 });
    expect(sim.runUntil(() => converged(sim, nodes), 20_000)).not.toBeNull();
  });

  test("a killed node is declared dead by all, and nobody else is", () => {
    const { sim, nodes } = swimCluster({ n: 30, seed: 2, loss: 0.05 });
    expect(sim.runUntil(() => converged(sim, nodes), 20_000)).not.toBeNull();
    const t0 = sim.now;
    sim.kill("n7");
    const at = sim.runUntil(() => nodes.every((n) => n.addr === "n7" || stateOf(n, "n7") === "dead"), 60_000);
    expect(at).not.toBeNull();
    expect(at! - t0).toBeLessThan(20_000);
    for (const n of nodes) for (const m of n.core.members()) if (m.id !== "n7") expect(m.state).not.toBe("dead");
  });

  test("short stalls (2 s, 10 % of nodes) cause no false positives", () => {
    const dead: string[] = [];
    const onEvent = (_: string, e: SwimEvent) => {
      if (e.type === "member" && e.change === "dead") dead.push(e.member.id);
    };
    const { sim, nodes } = swimCluster({ n: 30, seed: 3, loss: 0.05, onEvent });
    expect(sim.runUntil(() => converged(sim, nodes), 20_000)).not.toBeNull();
    for (let round = 0; round < 4; round++) {
      for (const n of nodes.slice(0, 3)) sim.pause(n.addr, 2000);
      sim.runFor(8000);
    }
    sim.runFor(10_000);
    expect(dead).toEqual([]);
    expect(converged(sim, nodes)).toBe(true);
  });

  test("at 30 % loss, with 2 s stalls on 10 % of the nodes, no live node is declared dead", () => {
    const dead: string[] = [];
    const onEvent = (_: string, e: SwimEvent) => {
      if (e.type === "member" && e.change === "dead") dead.push(e.member.id);
    };
    const { sim, nodes } = swimCluster({ n: 60, seed: 8, loss: 0, onEvent });
    expect(sim.runUntil(() => converged(sim, nodes), 20_000)).not.toBeNull();
    sim.loss = 0.3;
    for (let round = 0; round < 15; round++) {
      for (const n of nodes.slice(round % 10, (round % 10) + 6)) sim.pause(n.addr, 2000);
      sim.runFor(10_000);
    }
    expect(dead).toEqual([]);
    // And a real failure is still found, loss or not.
    sim.kill("n20");
    const at = sim.runUntil(() => nodes.every((n) => n.addr === "n20" || stateOf(n, "n20") === "dead"), 30_000);
    expect(at).not.toBeNull();
  });

  test("a partition splits the view; healing restores it", () => {
    const { sim, nodes } = swimCluster({ n: 20, seed: 4, loss: 0, config: { pushPullIntervalMs: 10_000 } });
    expect(sim.runUntil(() => converged(sim, nodes), 20_000)).not.toBeNull();
    const left = nodes.slice(0, 12).map((n) => n.addr);
    const right = nodes.slice(12).map((n) => n.addr);
    sim.partition([left, right]);
    const split = sim.runUntil(
      () => nodes.slice(0, 12).every((n) => right.every((r) => stateOf(n, r) === "dead")),
      60_000,
    );
    expect(split).not.toBeNull();
    sim.heal();
    // Dead members are learnt back through push-pull and refutation.
    const healed = sim.runUntil(() => converged(sim, nodes), 60_000);
    expect(healed).not.toBeNull();
  });
});
