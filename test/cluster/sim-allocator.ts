/** A ClusterAllocator on one host of a simulated cluster, over virtual time (no sleeps). */
import { ClusterAllocator } from "../../src/ipam/cluster.ts";
import { SimCluster } from "../../src/cluster/sim/cluster.ts";
import { createLogger } from "../../src/log.ts";
import { ipv4NetworkData } from "../fixtures/network.ts";

export const NET = ipv4NetworkData("net1", "10.1.0.0/25");

/**
 * A settled cluster of `n` hosts (voters admitted) that knows `net`, and an allocator on host `i`
 * over virtual time; `hostAddress` defaults to a map.
 */
export function setup(
  n: number,
  seed: number,
  i: number,
  o: {
    timeoutMs?: number;
    net?: typeof NET;
    hostAddress?: { find(net: string): string | null; claim(net: string, a: string): void };
  } = {},
) {
  const net = o.net ?? NET;
  const c = new SimCluster({ n, seed, ipam: { warmupMs: 5000 } });
  c.write(0, { table: "network", key: net.id, deleted: false, data: net });
  c.sim.run(12_000);
  const m = c.members[i];
  const timers: { at: number; fn: () => void }[] = [];
  const lines: string[] = [];
  let attempts = 0;
  const hostAddresses = new Map<string, string>();
  const allocator = new ClusterAllocator({
    ipam: m.ipam!,
    self: m.node.id,
    act: (fn) => {
      let r!: ReturnType<typeof fn>;
      c.sim.poke(m.node.addr, () => m.node.act(c.sim.now, () => (r = fn(c.sim.now))));
      return r;
    },
    hostAddress: o.hostAddress ?? {
      find: (id) => hostAddresses.get(id) ?? null,
      claim: (id, a) => void hostAddresses.set(id, a),
    },
    log: createLogger({ write: (l) => lines.push(l) }),
    timeoutMs: o.timeoutMs ?? 15_000,
    // The simulator's virtual time; its timers fire in `advance`.
    clock: {
      now: () => c.sim.now,
      setTimer: (ms, fn) => {
        const t = { at: c.sim.now + ms, fn };
        timers.push(t);
        return () => void (timers.includes(t) && timers.splice(timers.indexOf(t), 1));
      },
      every: () => {
        throw new Error("not used by the allocator");
      },
      sleep: () => Promise.reject(new Error("not used by the allocator")),
    },
  });
  // Count the IPAM allocations the allocator makes (each attempt is one).
  const allocate = m.ipam!.allocate.bind(m.ipam!);
  m.ipam!.allocate = (...a) => {
    attempts++;
    return allocate(...a);
  };
  /** Let virtual time pass: the cluster runs, due timers fire, promise continuations run. */
  const advance = async (ms: number) => {
    const end = c.sim.now + ms;
    while (c.sim.now < end) {
      c.sim.runFor(Math.min(100, end - c.sim.now));
      for (const t of timers.filter((x) => x.at <= c.sim.now)) t.fn();
      await new Promise((r) => setImmediate(r));
    }
  };
  return { c, m, allocator, advance, timers, lines, hostAddresses, attempts: () => attempts };
}
