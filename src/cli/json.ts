/**
 * `--json` speaks as nova's API did: snake_case keys, ISO-8601 times, and none of the
 * replication bookkeeping (origin, hlc, deleted) every stored record carries. The admin API keeps
 * the store's shapes for its own callers (this CLI's tables, the libvirt hook); this is the one
 * place where they become what an operator's scripts read.
 */

/**
 * Written by the cluster's replication for its own use, or a reference no verb takes (a fixed
 * IP's VIF is named by its MAC or address): meaningless to an operator.
 */
const INTERNAL = new Set(["origin", "hlc", "deleted", "vifId"]);

/** Maps whose keys are names chosen by users or modules (metadata keys, drop reasons, steps): copied as they are. */
const NAMED_KEYS = new Set(["meta", "drops", "failing", "stepMs", "counts"]);

/** Epoch-millisecond fields: `createdAt`, `expiresAt`, `lastAt`, …, and a few named otherwise. */
const isTime = (key: string) =>
  /^[a-z][A-Za-z0-9]*At$/.test(key) || key === "at" || key === "since" || key === "metadataLastSeen";

export const snakeCase = (key: string) =>
  key
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/([A-Z])([A-Z][a-z])/g, "$1_$2")
    .toLowerCase();

/** 0 is what a never-set clock reads; it becomes null rather than 1970. */
function isoTime(v: unknown): unknown {
  if (typeof v !== "number") return v;
  return v > 0 && Number.isFinite(v) ? new Date(v).toISOString() : null;
}

export function toApiJson(data: unknown): unknown {
  if (Array.isArray(data)) return data.map(toApiJson);
  if (data === null || typeof data !== "object") return data;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data as Record<string, unknown>)) {
    if (INTERNAL.has(k)) continue;
    // Only identifier-like keys are field names; "spoof-dhcp" or "dataplane.rules" are names.
    const key = /^[a-z][A-Za-z0-9]*$/.test(k) ? snakeCase(k) : k;
    if (NAMED_KEYS.has(k) && v && typeof v === "object" && !Array.isArray(v)) out[key] = { ...v };
    else out[key] = isTime(k) ? isoTime(v) : toApiJson(v);
  }
  return out;
}
