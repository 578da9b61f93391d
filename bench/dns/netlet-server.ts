/**
 * Benchmark entry point: the agent's DnsService on one address with a zone of instance names
 * from a JSON file (`{ address, allowed, upstreams, domain, instances }`), the agent's defaults
 * except the per-source rate limit (one dnsperf source would hit it). Prints "ready" when
 * listening; on SIGUSR2 collects garbage and writes its memory use as JSON to the file named by
 * the second argument; on SIGTERM prints the counters as one JSON line and exits.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { Registry } from "../../src/metrics.ts";
import { dnsMetrics } from "../../src/dns/metrics.ts";
import { DnsService } from "../../src/dns/service.ts";
import { buildZone, type ZoneInstance } from "../../src/dns/zone.ts";

const spec = JSON.parse(readFileSync(process.argv[2], "utf8")) as {
  address: string;
  allowed: string[];
  upstreams: string[];
  domain: string;
  instances: ZoneInstance[];
};
const registry = new Registry();
const service = new DnsService({ metrics: dnsMetrics(registry), rateLimit: { perSecond: 0, burst: 0, maxSources: 1 } });
service.setPlan({
  listeners: [
    { address: spec.address, bridge: "bench", allowed: spec.allowed, upstreams: spec.upstreams, project: null },
  ],
  zone: buildZone(spec.domain, spec.instances, spec.allowed, 1),
});
const ready = setInterval(() => {
  if (service.status()[0]?.state !== "serving") return;
  clearInterval(ready);
  console.log("ready");
}, 20);
process.on("SIGUSR2", () => {
  Bun.gc(true);
  writeFileSync(process.argv[3], JSON.stringify({ ...process.memoryUsage(), cache: service.cacheSize }));
});
process.on("SIGTERM", async () => {
  await service.stop();
  const counters = registry
    .render()
    .split("\n")
    .filter((l) => l && !l.startsWith("#") && !l.endsWith(" 0"));
  console.log(JSON.stringify({ counters, cache: service.cacheSize }));
  process.exit(0);
});
