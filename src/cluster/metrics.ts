/**
 * Exports the cores' plain counters to the agent's metrics registry. The sans-IO cores keep
 * simple stats objects (no registry dependency, cheap in the simulator); the composition root
 * calls `collect()` from its /metrics handler or a timer.
 */
import type { Registry } from "../metrics.ts";
import type { ClusterNode } from "./node.ts";
import type { Ipam } from "./ipam/ipam.ts";

export function clusterMetrics(reg: Registry, node: ClusterNode, ipam?: Ipam): { collect(): void } {
  const swim = reg.gauge(
    "netlet_cluster_swim_total",
    "Membership counters since start (packets, malformed, refutes, ...)",
  );
  const members = reg.gauge("netlet_cluster_members", "Members by state as seen by this node");
  const health = reg.gauge("netlet_cluster_local_health", "Lifeguard local health score (0 = healthy)");
  const queue = reg.gauge("netlet_cluster_broadcast_queue", "Queued broadcasts and drops of the bounded queue");
  const sync = reg.gauge(
    "netlet_cluster_sync_total",
    "State sync counters since start (applied, quarantined, future, resets, ...)",
  );
  const ipamG = reg.gauge(
    "netlet_cluster_ipam_total",
    "IPAM counters since start (claims, votes, allocations, duplicate alarms)",
  );
  return {
    collect() {
      for (const [k, v] of Object.entries(node.swim.stats)) swim.set(v, { counter: k });
      const by: Record<string, number> = { alive: 0, suspect: 0, dead: 0, left: 0 };
      for (const m of node.swim.members()) by[m.state]++;
      for (const [k, v] of Object.entries(by)) members.set(v, { state: k });
      health.set(node.swim.awareness.score);
      queue.set(node.swim.queued, { kind: "queued" });
      queue.set(node.swim.queueDropped, { kind: "dropped" });
      for (const [k, v] of Object.entries(node.sync.stats)) sync.set(v, { counter: k });
      if (ipam) {
        for (const [k, v] of Object.entries({ ...ipam.stats, ...ipam.agreement.stats })) ipamG.set(v, { counter: k });
      }
    },
  };
}
