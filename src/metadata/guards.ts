/**
 * Request guards that run before any instance lookup: the access log (outermost, so it sees
 * every answer, including refusals), the per-source rate limit and the body bound.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { Counter } from "../metrics.ts";
import type { KeyedTokenBuckets } from "../util/token-buckets.ts";

export interface AccessLogEntry {
  source: string;
  /** Instance uuid when one was identified, else null. */
  instance: string | null;
  method: string;
  path: string;
  status: number;
  micros: number;
}

export type AccessLogger = (entry: AccessLogEntry) => void;

export function formatAccessLine(e: AccessLogEntry): string {
  return `metadata ${e.source} ${e.instance ?? "-"} ${e.method} ${e.path} ${e.status} ${e.micros}us`;
}

/**
 * The default logger: one plain line per request, written in batches (one write per event-loop
 * turn instead of one per request; a boot storm is thousands of requests a second). At most
 * `maxPending` lines wait; beyond that lines are dropped and counted, never buffered unbounded.
 */
export function batchedLineLogger(
  write: (text: string) => void,
  maxPending = 10000,
): AccessLogger & { dropped: () => number } {
  let pending: string[] = [];
  let dropped = 0;
  const flush = () => {
    const text = `${pending.join("\n")}\n`;
    pending = [];
    write(text);
  };
  const log = (e: AccessLogEntry) => {
    if (pending.length >= maxPending) {
      dropped += 1;
      return;
    }
    if (pending.length === 0) setImmediate(flush);
    pending.push(formatAccessLine(e));
  };
  return Object.assign(log, { dropped: () => dropped });
}

/** Path without scheme, host or query, undecoded, from an absolute request URL. */
export function rawPath(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const q = url.indexOf("?", start);
  return q < 0 ? url.slice(start) : url.slice(start, q);
}

export function accessLog(
  log: AccessLogger,
  monotonic: () => number,
  source: (c: Context) => string,
  requests: Counter,
): MiddlewareHandler {
  return async function accessLog(c, next) {
    const started = monotonic();
    await next();
    const status = c.res.status;
    requests.inc({ status: String(status) });
    log({
      source: source(c),
      instance: (c.get("instanceUuid" as never) as string | undefined) ?? null,
      method: c.req.method,
      path: rawPath(c.req.url).slice(0, 256),
      status,
      micros: Math.round((monotonic() - started) * 1000),
    });
  };
}

export function rateLimit(
  limiter: KeyedTokenBuckets,
  now: () => number,
  source: (c: Context) => string,
  limited: Counter,
): MiddlewareHandler {
  return async function rateLimit(c, next) {
    if (!limiter.take(source(c), now())) {
      limited.inc();
      return c.text("Too Many Requests", 429, { "Retry-After": "1" });
    }
    await next();
  };
}

/**
 * Refuses declared bodies over `maxBytes` before anything reads them: 413, except on the
 * password path where nova's answer to an oversized body is 400.
 */
export function bodyLimit(maxBytes: number): MiddlewareHandler {
  return async function bodyLimit(c, next) {
    const declared = c.req.header("content-length");
    if (declared !== undefined && !(Number(declared) <= maxBytes)) {
      const password = rawPath(c.req.url).replace(/\/+$/, "").endsWith("/password");
      return password ? c.text("Request is too large.", 400) : c.text("Request Entity Too Large", 413);
    }
    await next();
  };
}

/**
 * Reads at most `limit` bytes of the body; null when it is longer (the stream is cancelled, so
 * an undeclared chunked body cannot grow past the limit in memory).
 */
export async function readBounded(req: Request, limit: number): Promise<Uint8Array | null> {
  if (!req.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}
