/**
 * IMDSv2 session tokens. A token is `<base64url(uuid.expiryMs)>.<base64url(HMAC-SHA256)>` under
 * a per-process key, so it is bound to the instance it was issued to, expires on its own and
 * needs no server-side table; a restart invalidates all tokens (clients re-PUT on 401).
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const MAX_TOKEN_TTL = 21600;
/** Longest token text accepted before any crypto work. */
const MAX_TOKEN_LENGTH = 256;

/** The TTL header's value as whole seconds in 1..21600, or null (→ 400). */
export function parseTokenTtl(header: string | null | undefined): number | null {
  if (!header || !/^[0-9]{1,5}$/.test(header.trim())) return null;
  const ttl = Number(header.trim());
  return ttl >= 1 && ttl <= MAX_TOKEN_TTL ? ttl : null;
}

function sign(key: Uint8Array, payload: string): Buffer {
  return createHmac("sha256", key).update(payload).digest();
}

export function issueToken(key: Uint8Array, uuid: string, nowMs: number, ttlSeconds: number): string {
  const payload = `${uuid}.${nowMs + ttlSeconds * 1000}`;
  return `${Buffer.from(payload).toString("base64url")}.${sign(key, payload).toString("base64url")}`;
}

/** True when `token` was issued by this key to `uuid` and has not expired at `nowMs`. */
export function verifyToken(key: Uint8Array, token: string, uuid: string, nowMs: number): boolean {
  if (token.length > MAX_TOKEN_LENGTH) return false;
  const dot = token.indexOf(".");
  if (dot < 0) return false;
  const payload = Buffer.from(token.slice(0, dot), "base64url").toString();
  const given = Buffer.from(token.slice(dot + 1), "base64url");
  const expected = sign(key, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
  const sep = payload.lastIndexOf(".");
  const expiresAt = Number(payload.slice(sep + 1));
  return payload.slice(0, sep) === uuid && Number.isFinite(expiresAt) && nowMs < expiresAt;
}
