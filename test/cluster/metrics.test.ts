import { expect, test } from "bun:test";
import { clusterMetrics } from "../../src/cluster/metrics.ts";
import { SimCluster } from "../../src/cluster/sim/cluster.ts";
import { Registry } from "../../src/metrics.ts";

test("cluster counters are exported to the registry", () => {
  const c = new SimCluster({ n: 3, seed: 1, ipam: {} });
  c.sim.run(5000);
  const r = new Registry();
  clusterMetrics(r, c.members[0].node, c.members[0].ipam).collect();
  const text = r.render();
  expect(text).toContain('netlet_cluster_members{state="alive"} 3');
  expect(text).toMatch(/netlet_cluster_swim_total\{counter="packetsIn"\} [1-9]/);
  expect(text).toContain('netlet_cluster_ipam_total{counter="duplicateAlarms"} 0');
});
