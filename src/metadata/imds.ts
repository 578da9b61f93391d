/**
 * IMDSv2 on the HTTP side: `PUT /latest/api/token` and the token check on every other request.
 * The hop limit of token responses is not set here: server.ts sets IP TTL 1 on the listening
 * socket (inherited by every accepted connection), see `limitHops` there.
 */
import type { Context } from "hono";
import type { ImdsMode } from "./config.ts";
import type { Requester } from "./requester.ts";
import { issueToken, parseTokenTtl, verifyToken } from "./token.ts";

export const TOKEN_HEADER = "x-aws-ec2-metadata-token";
export const TOKEN_TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds";

export function isTokenPath(segments: string[]): boolean {
  return segments.length === 3 && segments[0] === "latest" && segments[1] === "api" && segments[2] === "token";
}

export function handleTokenPut(c: Context, who: Requester & { ok: true }, key: Uint8Array, nowMs: number): Response {
  if (c.req.method !== "PUT") return c.text("Method Not Allowed", 405, { Allow: "PUT" });
  // A PUT that went through a proxy must not get a token (the AWS rule against SSRF relays).
  if (c.req.header("x-forwarded-for") !== undefined) return c.text("Forbidden", 403);
  const ttl = parseTokenTtl(c.req.header(TOKEN_TTL_HEADER));
  if (ttl === null) return c.text("Bad Request: X-aws-ec2-metadata-token-ttl-seconds must be 1-21600", 400);
  const token = issueToken(key, who.view.instance.uuid, nowMs, ttl);
  return c.text(token, 200, { [TOKEN_TTL_HEADER]: String(ttl) });
}

/**
 * A 401 response when the request may not proceed: a token that is present but invalid,
 * expired or issued to another instance (in both modes), or no token in `required` mode.
 */
export function checkToken(
  c: Context,
  mode: ImdsMode,
  key: Uint8Array,
  uuid: string,
  nowMs: number,
): Response | undefined {
  const token = c.req.header(TOKEN_HEADER);
  if (token === undefined) return mode === "required" ? c.text("Unauthorized", 401) : undefined;
  return verifyToken(key, token, uuid, nowMs) ? undefined : c.text("Unauthorized", 401);
}
