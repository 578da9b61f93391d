/**
 * The netlet metadata server over the benchmark fleet: `bun server.ts <port> <instances>`.
 * Rate limits are lifted (wrk hammers from one source); access log lines go to stdout as in
 * production (the runner discards them). Prints "ready" once listening.
 */
import { createMetadataApp } from "../../src/metadata/app.ts";
import { startMetadataServer } from "../../src/metadata/server.ts";
import { MemorySource } from "../../src/metadata/source.ts";
import { fleetView } from "./fleet.ts";

const port = Number(process.argv[2]);
const count = Number(process.argv[3]);
const source = new MemorySource();
for (let i = 0; i <= count; i++) source.put(fleetView(i));
const app = createMetadataApp({
  source,
  config: { rateLimitPerSecond: 1e9, rateLimitBurst: 1e9 },
  log: process.env.NOLOG ? () => {} : undefined,
});
startMetadataServer({
  app,
  listen: ["127.0.0.1"],
  port,
  networkOf: () => null,
  reusePort: process.env.REUSEPORT === "1",
});
console.error("ready");
