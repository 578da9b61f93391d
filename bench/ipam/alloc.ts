/**
 * IPAM allocation cost in a /16 flat network: the time to boot the 1st, 1,000th, 30,000th and
 * 60,000th instance (each boot = one transaction: instance, VIF, least-recently-used fixed IP).
 * Target: the 60,000th allocation as fast as the first. Run: bun bench/ipam/alloc.ts [N]
 */
import { Store } from "../../src/store/db.ts";
import { createNetworks } from "../../src/store/networks.ts";
import { bootInstance } from "../../src/store/instances.ts";
import { netParams } from "../../test/store/fixtures.ts";

const N = Number(process.argv[2] ?? 60000);
const dir = `/tmp/netlet-bench-ipam-${process.pid}`;
const store = new Store(`${dir}/netlet.db`, { nodeId: "bench" });
let t = performance.now();
createNetworks(store, netParams({ label: "big", cidr: "10.0.0.0/16", cidrV6: "fd00:99::/64", dns1: null }));
console.log(`network-create /16 (65,536 fixed-IP rows): ${(performance.now() - t).toFixed(0)} ms`);

const marks = new Set([1, 1000, 30000, N]);
const window: number[] = [];
for (let i = 1; i <= N; i++) {
  t = performance.now();
  bootInstance(store, {
    name: `vm${i}`,
    networks: ["big"],
    macs: [],
    fixedIps: [],
    keyName: null,
    userData: null,
    meta: {},
    securityGroups: [],
    availabilityZone: "nova",
    flavor: "m1.small",
    projectId: "admin",
    userId: "admin",
  });
  const dt = performance.now() - t;
  if (i <= 100 || i > N - 100) window.push(dt);
  if (marks.has(i)) console.log(`boot #${i}: ${dt.toFixed(3)} ms`);
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(
  `median of boots 1-100: ${median(window.slice(0, 100)).toFixed(3)} ms; median of the last 100: ${median(window.slice(100)).toFixed(3)} ms; ratio ${(median(window.slice(100)) / median(window.slice(0, 100))).toFixed(2)}`,
);
store.close();
Bun.spawnSync(["rm", "-rf", dir]);
