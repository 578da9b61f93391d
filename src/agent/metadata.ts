/** The metadata service as the agent runs it: documents from the store, refused requests logged in sums. */
import { readFileSync } from "node:fs";
import type { Config } from "../config/load.ts";
import type { Logger } from "../log.ts";
import type { Store } from "../store/db.ts";
import { createMetadataApp, type MetadataApp } from "../metadata/app.ts";
import { startMetadataServer, type MetadataServer } from "../metadata/server.ts";
import { AccessAggregator, type AccessLine } from "../metadata/access-aggregate.ts";
import { StoreMetadataSource } from "../reconcile/metadata-source.ts";
import type { MetadataSink } from "../reconcile/targets.ts";

function vendordata(config: Config, log: Logger): unknown {
  if (!config.vendordataJsonfilePath) return null;
  try {
    return JSON.parse(readFileSync(config.vendordataJsonfilePath, "utf8"));
  } catch (err) {
    log.warn("vendordata_jsonfile_path unreadable; serving {}", {
      path: config.vendordataJsonfilePath,
      err: String(err),
    });
    return null;
  }
}

/** Refused metadata requests are logged once per source per this interval, with a count. */
const ACCESS_LOG_INTERVAL_MS = 10_000;

export function startMetadata(store: Store, config: Config, log: Logger) {
  const l = log.child({ component: "metadata" });
  /** When each instance last read its metadata (for `netlet status`); bounded by the instances. */
  const lastSeen = new Map<string, number>();
  // Refused requests are summed per source per interval: a VM hammering the service must not fill the disk.
  const access = new AccessAggregator(Date.now(), ACCESS_LOG_INTERVAL_MS);
  const write = (lines: AccessLine[]) => {
    for (const line of lines) {
      if (line.kind === "request") l.info("request", { ...line.entry });
      else {
        const s = line.summary;
        l.warn("more requests refused", {
          source: s.source,
          instance: s.instance,
          count: s.count,
          interval_s: ACCESS_LOG_INTERVAL_MS / 1000,
          statuses: Object.entries(s.statuses)
            .map(([k, n]) => `${k}:${n}`)
            .join(","),
        });
      }
    }
  };
  const flushTimer = setInterval(() => write(access.flush(Date.now())), ACCESS_LOG_INTERVAL_MS);
  flushTimer.unref?.();
  const app: MetadataApp = createMetadataApp({
    source: new StoreMetadataSource(store),
    config: {
      dhcpDomain: config.dhcpDomain,
      cacheExpiration: config.metadataCacheExpiration,
      vendordataStatic: vendordata(config, l),
      vendordataDynamicTargets: config.vendordataDynamicTargets,
    },
    log: (entry) => {
      if (entry.instance) lastSeen.set(entry.instance, Date.now());
      write(access.record(entry, Date.now()));
    },
    logger: l,
  });
  let server: MetadataServer | null = null;
  let networkOf: (address: string) => string | null = () => null;
  const sink: MetadataSink = {
    cache: app,
    forget: (uuid) => lastSeen.delete(uuid),
    listen(addresses, of) {
      networkOf = of;
      if (server) {
        server.setListen(addresses);
        return;
      }
      if (addresses.length === 0) return;
      server = startMetadataServer({
        app,
        listen: addresses,
        port: config.metadataListenPort,
        networkOf: (a) => networkOf(a),
        log: l,
      });
    },
  };
  const seen = (uuid: string) => lastSeen.get(uuid) ?? null;
  const stop = () => {
    clearInterval(flushTimer);
    write(access.flush(Number.POSITIVE_INFINITY));
    return server?.stop();
  };
  return { app, sink, seen, stop };
}
