/**
 * Benchmark entry point: DhcpService on one bridge with a host table from JSON, persisting
 * leases in the agent's SQLite store (`--db <file>`) or in memory (`--memory`). Prints "ready"
 * when listening; on SIGTERM prints the counters as one JSON line and exits.
 */
import { readFileSync } from "node:fs";
import { MemoryLeaseStore } from "../../src/dhcp/leases.ts";
import { dhcpMetrics } from "../../src/dhcp/metrics.ts";
import { DhcpService, type BridgeHosts } from "../../src/dhcp/service.ts";
import { storeLeaseStore } from "../../src/agent/dhcp-leases.ts";
import { Registry } from "../../src/metrics.ts";
import { Store } from "../../src/store/db.ts";

const [tablePath, mode, dbPath] = process.argv.slice(2);
const store = mode === "--db" ? new Store(dbPath, { nodeId: "bench" }) : null;
const registry = new Registry();
const service = new DhcpService({
  leases: store ? storeLeaseStore(store) : new MemoryLeaseStore(),
  metrics: dhcpMetrics(registry),
});
service.setBridges(JSON.parse(readFileSync(tablePath, "utf8")) as BridgeHosts[]);
setTimeout(() => console.log("ready"), 50);
process.on("SIGTERM", async () => {
  await service.stop();
  const counters = registry
    .render()
    .split("\n")
    .filter((l) => l && !l.startsWith("#") && !l.endsWith(" 0"));
  console.log(JSON.stringify({ counters, leases: store ? storeLeaseStore(store).list().length : null }));
  store?.close();
  process.exit(0);
});
