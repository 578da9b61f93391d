/** A metadata app over a MemorySource with a fake clock and a captured access log. */
import { createMetadataApp, type MetadataDeps } from "../../src/metadata/app.ts";
import type { MetadataConfig } from "../../src/metadata/config.ts";
import type { AccessLogEntry } from "../../src/metadata/guards.ts";
import { MemorySource } from "../../src/metadata/source.ts";
import { Registry } from "../../src/metrics.ts";
import { view } from "./fixtures.ts";

export function makeApp(config: Partial<MetadataConfig> = {}, extra: Partial<MetadataDeps> = {}) {
  const source = new MemorySource();
  source.put(view());
  const clock = { ms: Date.UTC(2026, 10, 22, 3, 0, 0) };
  const logs: AccessLogEntry[] = [];
  let seed = 0;
  const registry = new Registry();
  const app = createMetadataApp({
    source,
    config,
    now: () => clock.ms,
    monotonic: () => clock.ms,
    randomBytes: (n) => new Uint8Array(n).fill(++seed % 256),
    log: (e) => logs.push(e),
    registry,
    ...extra,
  });
  /** GET (or `init`) as the VM at `address` on `networkId`. */
  const req = (path: string, init: RequestInit = {}, address = "10.0.0.5", networkId: string | null = "net-1") =>
    app.request(path, init, { address, networkId });
  const get = async (path: string, address?: string, networkId?: string | null) => {
    const res = await req(path, {}, address, networkId);
    return { status: res.status, body: await res.text(), type: res.headers.get("content-type") ?? "" };
  };
  return { app, source, clock, logs, registry, req, get };
}
