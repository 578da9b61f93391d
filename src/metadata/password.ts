/**
 * POST /openstack/<version>/password (nova `password.py`): stored once, at most 4 × 255 bytes.
 * "Already set" is decided by the store, never by a cached document, so a second POST inside
 * the cache window is refused (nova checked its cache and let it through).
 */
import type { Context } from "hono";
import { readBounded } from "./guards.ts";
import type { MetadataSource } from "./source.ts";

export const MAX_PASSWORD_BYTES = 1020;

export async function handlePasswordPost(
  c: Context,
  source: MetadataSource,
  uuid: string,
  onStored: () => void,
): Promise<Response> {
  const declared = c.req.header("content-length");
  if (declared !== undefined && !(Number(declared) <= MAX_PASSWORD_BYTES)) return c.text("Request is too large.", 400);
  const body = await readBounded(c.req.raw, MAX_PASSWORD_BYTES);
  if (body === null) return c.text("Request is too large.", 400);
  const result = source.setPassword(uuid, new TextDecoder().decode(body));
  if (result === "exists") return c.text("Conflict", 409);
  if (result === "not_found") return c.text("Not Found", 404);
  onStored();
  return c.body(null, 200);
}
