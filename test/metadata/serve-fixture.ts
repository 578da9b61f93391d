/**
 * Runs the real metadata server over a MemorySource for integration tests and the benchmark.
 * Usage: bun serve-fixture.ts <spec.json>; prints "ready <port>" once listening.
 * spec: { listen: string[], port: number, networks: {address: networkId}, views: FixtureView[], config?: {...} }
 */
import { readFileSync } from "node:fs";
import { createMetadataApp } from "../../src/metadata/app.ts";
import { startMetadataServer } from "../../src/metadata/server.ts";
import { type InstanceView, MemorySource } from "../../src/metadata/source.ts";

interface Spec {
  listen: string[];
  port: number;
  networks: Record<string, string>;
  views: (Omit<InstanceView, "instance"> & { instance: InstanceView["instance"] & { userDataText?: string | null } })[];
  config?: Record<string, unknown>;
  quiet?: boolean;
}

const spec: Spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
const source = new MemorySource();
for (const v of spec.views) {
  const { userDataText, ...instance } = v.instance;
  source.put({
    ...v,
    instance: { ...instance, userData: userDataText ? new TextEncoder().encode(userDataText) : null },
  });
}
const app = createMetadataApp({ source, config: spec.config, log: spec.quiet ? () => {} : undefined });
const server = startMetadataServer({
  app,
  listen: spec.listen,
  port: spec.port,
  networkOf: (a) => spec.networks[a] ?? null,
});
console.log(`ready ${server.port}`);
process.on("SIGTERM", () => void server.stop().then(() => process.exit(0)));
