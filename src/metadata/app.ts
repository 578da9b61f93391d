/**
 * The metadata service as a Request → Response function (a hono app). Everything it needs is
 * injected: the instance source, clocks, randomness, the vendordata HTTP client, the logger and
 * where the connection came from. The Bun listener in server.ts only hosts it.
 */
import { randomBytes as nodeRandomBytes } from "node:crypto";
import { type Context, Hono } from "hono";
import { counter, type Registry, registry as defaultRegistry } from "../metrics.ts";
import { createLogger, type Logger } from "../log.ts";
import { DocumentCache } from "./cache.ts";
import { metadataConfig, type MetadataConfig } from "./config.ts";
import { isPasswordPath, renderDocument, TEXT, type Doc } from "./documents.ts";
import { ec2VersionList } from "./ec2.ts";
import { type AccessLogger, accessLog, batchedLineLogger, bodyLimit, rateLimit, rawPath } from "./guards.ts";
import { handlePasswordPost } from "./password.ts";
import { pathSegments } from "./paths.ts";
import { randomSeed } from "./openstack.ts";
import { KeyedTokenBuckets } from "../util/token-buckets.ts";
import { type ConnInfo, identify, type Requester } from "./requester.ts";
import type { MetadataSource } from "./source.ts";
import { checkToken, handleTokenPut, isTokenPath } from "./imds.ts";
import { type FetchLike, parseTargets } from "./vendordata.ts";

export type { ConnInfo };

export interface MetadataDeps {
  source: MetadataSource;
  config?: Partial<MetadataConfig>;
  /** Wall clock, ms since the epoch. @default Date.now */
  now?: () => number;
  /** Monotonic clock, ms (fractional), for request durations. @default performance.now */
  monotonic?: () => number;
  /** @default node:crypto randomBytes */
  randomBytes?: (n: number) => Uint8Array;
  /** Client for dynamic vendordata targets. @default fetch */
  fetch?: FetchLike;
  /** Reads the connection info; the default reads `c.env` (a `ConnInfo`). */
  connInfo?: (c: Context) => ConnInfo | null;
  /** @default one line per request on stdout, written in batches */
  log?: AccessLogger;
  /** Where failures are reported (a source that throws). */
  logger?: Logger;
  registry?: Registry;
  /**
   * Key that signs IMDSv2 tokens. Processes sharing a port (reusePort) must share it, or a
   * token issued by one is refused by another. @default 32 random bytes per process
   */
  tokenKey?: Uint8Array;
}

export type MetadataEnv = { Bindings: Partial<ConnInfo>; Variables: { instanceUuid: string } };

export type MetadataApp = Hono<MetadataEnv> & {
  /** Drop the cached documents of one instance (its record, keys, floating IP, password or groups changed). */
  invalidate(uuid: string): void;
  /** Drop every cached document (a change whose instance is not known, e.g. a network edit). */
  invalidateAll(): void;
};

export function createMetadataApp(deps: MetadataDeps): MetadataApp {
  const config = metadataConfig(deps.config);
  const now = deps.now ?? Date.now;
  const monotonic = deps.monotonic ?? (() => performance.now());
  const randomBytes = deps.randomBytes ?? ((n: number) => new Uint8Array(nodeRandomBytes(n)));
  const connInfo = deps.connInfo ?? ((c: Context) => (c.env?.address ? (c.env as ConnInfo) : null));
  const reg = deps.registry ?? defaultRegistry;
  const cache = new DocumentCache(config.cacheExpiration * 1000, config.cacheInstances);
  const limiter = new KeyedTokenBuckets(config.rateLimitPerSecond, config.rateLimitBurst, config.rateLimitSources);
  const tokenKey = deps.tokenKey ?? randomBytes(32);
  const targets = parseTargets(config.vendordataDynamicTargets);
  const fetchFn = deps.fetch ?? ((url, init) => fetch(url, init));
  const metrics = {
    requests: counter("netlet_metadata_requests_total", "Metadata requests answered, by status", reg),
    limited: counter(
      "netlet_metadata_rate_limited_total",
      "Metadata requests refused by the per-source rate limit",
      reg,
    ),
    hits: counter("netlet_metadata_cache_hits_total", "Metadata documents served from the cache", reg),
    misses: counter("netlet_metadata_cache_misses_total", "Metadata documents rendered", reg),
    errors: counter("netlet_metadata_errors_total", "Metadata requests that failed with an internal error", reg),
  };
  const sourceOf = (c: Context) => connInfo(c)?.address ?? "-";
  // Two instances may share an address on two networks: they must not share a bucket.
  const bucketOf = (c: Context) => `${connInfo(c)?.networkId ?? "*"}|${sourceOf(c)}`;

  const logger = deps.logger ?? createLogger({ base: { component: "metadata" } });
  const app = new Hono<MetadataEnv>();
  // A failing source (store error) is nova's "lookup exception": 500, counted, one log line.
  app.onError((err, c) => {
    metrics.errors.inc();
    logger.error("request failed", { method: c.req.method, path: rawPath(c.req.url).slice(0, 256), err: err.message });
    return c.text("An unknown error has occurred.", 500);
  });
  const log = deps.log ?? batchedLineLogger((text) => process.stdout.write(text));
  app.use(accessLog(log, monotonic, sourceOf, metrics.requests));
  app.use(rateLimit(limiter, now, bucketOf, metrics.limited));
  app.use(bodyLimit(config.maxBodyBytes));
  app.all("*", async function metadata(c) {
    const segments = pathSegments(rawPath(c.req.url));
    if (!segments) return c.text("Bad Request", 400);
    const method = c.req.method;
    // nova answers `/` before identifying the caller.
    if (segments.length === 0) return readOnly(c) ?? c.body(ec2VersionList().join("\n"), 200, { "Content-Type": TEXT });
    const who = identify(c, { source: deps.source, cache, config, conn: connInfo(c), nowMs: now() });
    if (!who.ok) return c.text(who.message, who.status);
    c.set("instanceUuid", who.view.instance.uuid);
    if (isTokenPath(segments)) return handleTokenPut(c, who, tokenKey, now());
    const denied = checkToken(c, config.imdsMode, tokenKey, who.view.instance.uuid, now());
    if (denied) return denied;
    if (isPasswordPath(segments) && method === "POST") {
      return handlePasswordPost(c, deps.source, who.view.instance.uuid, () => cache.invalidate(who.view.instance.uuid));
    }
    if (isPasswordPath(segments) && !isRead(method)) return c.text("GET and POST only are supported.", 400);
    const doc = await lookup(who, segments.join("/"));
    if (!doc) return c.text("Not Found", 404);
    if (!isRead(method)) return readOnly(c)!;
    const body = doc.kind === "seeded" ? doc.prefix + randomSeed(randomBytes) + doc.suffix : doc.body;
    return c.body(body as string, 200, { "Content-Type": doc.type });
  });

  /** The cached document at `path`, rendered and remembered on a miss; null for 404. */
  async function lookup(who: Requester & { ok: true }, path: string): Promise<Doc | null> {
    const cached = who.entry.docs.get(path);
    if (cached) {
      metrics.hits.inc();
      return cached;
    }
    metrics.misses.inc();
    const ctx = { config, targets, fetch: fetchFn, nowMs: now(), requestAddress: who.address };
    const doc = await renderDocument(who.view, path.split("/"), ctx);
    if (doc) cache.remember(who.entry, path, doc);
    return doc;
  }

  return Object.assign(app, {
    invalidate: (uuid: string) => cache.invalidate(uuid),
    invalidateAll: () => cache.invalidateAll(),
  });
}

function isRead(method: string): boolean {
  return method === "GET" || method === "HEAD";
}

/** 405 for anything but GET and HEAD; undefined when the method is fine. */
function readOnly(c: Context): Response | undefined {
  if (isRead(c.req.method)) return undefined;
  return c.text("Method Not Allowed", 405, { Allow: "GET, HEAD" });
}
