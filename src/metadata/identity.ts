/**
 * Which instance is asking (nova-reference §1.2). Default: the source address on the network
 * the request arrived from. Proxy mode (nova's `service_metadata_proxy`): signed headers.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { InstanceView } from "./source.ts";

export type ProxyCheck =
  | { ok: true; instanceId: string; tenantId: string; address: string | null }
  | { ok: false; status: 400 | 403; message: string };

const UUIDISH = /^[0-9A-Za-z-]{1,64}$/;

/** Lowercase hex HMAC-SHA256 of the instance id under the shared secret, as nova signs it. */
export function signInstanceId(secret: string, instanceId: string): string {
  return createHmac("sha256", secret).update(instanceId).digest("hex");
}

/**
 * Validates X-Instance-ID, X-Tenant-ID and X-Instance-ID-Signature: missing or repeated
 * (fetch joins repeats with ", ") → 400, wrong signature → 403 (constant-time compare).
 */
export function checkProxyHeaders(headers: Headers, secret: string): ProxyCheck {
  const instanceId = headers.get("x-instance-id");
  const tenantId = headers.get("x-tenant-id");
  const signature = headers.get("x-instance-id-signature");
  if (!instanceId || !tenantId || !signature) {
    return { ok: false, status: 400, message: "X-Instance-ID, X-Tenant-ID and X-Instance-ID-Signature are required" };
  }
  if (!UUIDISH.test(instanceId) || tenantId.includes(",") || signature.includes(",")) {
    return { ok: false, status: 400, message: "Proxy headers must be given once" };
  }
  const expected = Buffer.from(signInstanceId(secret, instanceId));
  const given = Buffer.from(signature.toLowerCase());
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, status: 403, message: "Invalid proxy request signature" };
  }
  const forwarded = headers.get("x-forwarded-for");
  return { ok: true, instanceId, tenantId, address: forwarded ? forwarded.split(",")[0].trim() : null };
}

/** nova answers 404 when the instance's project differs from X-Tenant-ID. */
export function tenantMatches(view: InstanceView, tenantId: string): boolean {
  return view.instance.projectId === tenantId;
}
