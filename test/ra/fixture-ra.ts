/**
 * Test and bench fixture: runs RaService inside the current (host) namespace.
 *   bun fixture-ra.ts <config.json> <metrics-out>
 * config.json: { bridges: BridgeConfig[], options?: RaServiceOptions (numbers only) }.
 * SIGHUP re-reads config.json and calls setBridges; SIGTERM calls stop() and exits 0.
 * Metrics (Prometheus text) are written to <metrics-out> every 200 ms and at exit; events are
 * printed to stdout as JSON lines (the service's log lines too) ("ready" after the first setBridges).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { Registry } from "../../src/metrics.ts";
import { RaService } from "../../src/ra/service.ts";
import { createLogger } from "../../src/log.ts";

const [configPath, metricsPath] = process.argv.slice(2);
if (!configPath || !metricsPath) {
  console.error("usage: fixture-ra.ts <config.json> <metrics-out>");
  process.exit(2);
}
const read = () => JSON.parse(readFileSync(configPath, "utf8"));
const reg = new Registry();
const print = (event: string, fields: Record<string, unknown> = {}) =>
  console.log(JSON.stringify({ event, ...fields }));
const log = createLogger({ format: "json", write: (line) => console.log(line) });
const svc = new RaService({ ...(read().options ?? {}), registry: reg, log });
const dump = () => writeFileSync(metricsPath, reg.render());

svc.setBridges(read().bridges);
print("ready");
const timer = setInterval(dump, 200);

process.on("SIGHUP", () => {
  try {
    svc.setBridges(read().bridges);
    print("reloaded", { status: svc.status() });
  } catch (e) {
    print("reload-error", { error: (e as Error).message });
  }
});
process.on("SIGTERM", async () => {
  await svc.stop();
  clearInterval(timer);
  dump();
  print("stopped");
  process.exit(0);
});
