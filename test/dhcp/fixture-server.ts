/**
 * Test entry point: runs DhcpService inside a host namespace with the host table from a JSON
 * file (`[{bridge, hosts: DhcpHost[]}]`), re-read on SIGHUP. Lease events are printed to stdout
 * as JSON lines, then "ready" once the sockets are open; SIGUSR2 prints the metrics as one JSON
 * line `{"metrics": "<prometheus text>"}`. Leases are kept in memory, so a restart forgets them
 * (what the restart test needs).
 */
import { readFileSync } from "node:fs";
import { MemoryLeaseStore } from "../../src/dhcp/leases.ts";
import { dhcpMetrics } from "../../src/dhcp/metrics.ts";
import { DhcpService, type BridgeHosts } from "../../src/dhcp/service.ts";
import { Registry } from "../../src/metrics.ts";
import { createLogger } from "../../src/log.ts";

const tablePath = process.argv[2];
if (!tablePath) throw new Error("usage: fixture-server.ts <hosts.json>");
const registry = new Registry();
const service = new DhcpService({
  leases: new MemoryLeaseStore(),
  metrics: dhcpMetrics(registry),
  onEvent: (e) => console.log(JSON.stringify({ event: e })),
  log: createLogger({ format: "json", write: (line) => console.log(line) }),
  checkIntervalMs: 500,
});

const load = () => service.setBridges(JSON.parse(readFileSync(tablePath, "utf8")) as BridgeHosts[]);
load();
process.on("SIGHUP", () => {
  load();
  console.log(JSON.stringify({ reloaded: true }));
});
process.on("SIGUSR2", () => console.log(JSON.stringify({ metrics: registry.render() })));
process.on("SIGTERM", async () => {
  await service.stop();
  process.exit(0);
});
// Adoption into the event loop completes asynchronously; one tick is enough.
setTimeout(() => console.log(JSON.stringify({ ready: service.servedBridges })), 50);
