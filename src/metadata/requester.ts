/**
 * Finds the requesting instance and its cache entry. The cache is consulted before the source,
 * so a cached requester costs one map lookup; the key carries the network the request arrived
 * on, so two instances sharing an address on two networks never see each other's documents.
 */
import type { Context } from "hono";
import type { CacheEntry, DocumentCache } from "./cache.ts";
import type { MetadataConfig } from "./config.ts";
import { checkProxyHeaders, tenantMatches } from "./identity.ts";
import { canonicalIp, type InstanceView, type MetadataSource } from "./source.ts";

/** Where a request came from; the shell passes it as the `env` of `app.fetch(req, env)`. */
export interface ConnInfo {
  /** Peer address (any textual form; IPv4-mapped IPv6 is folded to IPv4). */
  address: string;
  /** Network the request arrived on (the listener's network), null when not known. */
  networkId: string | null;
}

export type Requester =
  | { ok: true; view: InstanceView; entry: CacheEntry; address: string }
  | { ok: false; status: 400 | 403 | 404; message: string };

export interface IdentifyDeps {
  source: MetadataSource;
  cache: DocumentCache;
  config: MetadataConfig;
  conn: ConnInfo | null;
  nowMs: number;
}

const NOT_FOUND = { ok: false, status: 404, message: "Not Found" } as const;

export function identify(c: Context, deps: IdentifyDeps): Requester {
  const peer = canonicalIp(deps.conn?.address);
  if (deps.config.proxySharedSecret !== null) return identifyByProxy(c, deps, peer);
  if (!peer) return NOT_FOUND;
  const networkId = deps.conn?.networkId ?? null;
  const key = `${networkId ?? "*"}|${peer}`;
  const cached = deps.cache.get(key, deps.nowMs);
  if (cached) return { ok: true, view: cached.view, entry: cached, address: peer };
  const view = deps.source.resolve(peer, networkId);
  if (!view) return NOT_FOUND;
  return { ok: true, view, entry: deps.cache.put(key, view, deps.nowMs), address: peer };
}

function identifyByProxy(c: Context, deps: IdentifyDeps, peer: string | null): Requester {
  const check = checkProxyHeaders(c.req.raw.headers, deps.config.proxySharedSecret!);
  if (!check.ok) return check;
  const address = canonicalIp(check.address) ?? peer ?? "";
  const key = `uuid:${check.instanceId}`;
  const cached = deps.cache.get(key, deps.nowMs);
  const view = cached?.view ?? deps.source.byUuid(check.instanceId);
  if (!view || !tenantMatches(view, check.tenantId)) return NOT_FOUND;
  return { ok: true, view, entry: cached ?? deps.cache.put(key, view, deps.nowMs), address };
}
