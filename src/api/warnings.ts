/**
 * Requests that are valid but probably not what the operator meant: the API still applies them,
 * and hands back one line per doubt in the `Netlet-Warning` header (the CLI prints them, the
 * agent logs them).
 */
import type { Context } from "hono";
import type * as v from "valibot";
import type { Logger } from "../log.ts";
import type { Config } from "../config/load.ts";
import type { Network } from "../model.ts";
import type { NetworkCreate } from "./schemas.ts";

export const WARNING_HEADER = "Netlet-Warning";

/** Valid but doubtful requests: logged, and handed to the caller in the header. */
export function warn(c: Context, lines: string[], log: Logger): void {
  if (!lines.length) return;
  for (const l of lines) log.warn("admin request accepted with a warning", { path: c.req.path, warning: l });
  c.header(WARNING_HEADER, encodeWarnings(lines));
}

export function networkCreateWarnings(
  b: v.InferOutput<typeof NetworkCreate>,
  bridge: string,
  config: Config,
  existing: readonly Network[],
): string[] {
  const out: string[] = [];
  if (b.fixed_range_v6 && !config.useIpv6) {
    out.push(
      `--fixed-range-v6 ${b.fixed_range_v6} is stored but not served: use_ipv6 = false in the configuration, so no router advertisements are sent`,
    );
  }
  if (b.vlan !== null && config.networkManager !== "vlan") {
    out.push(
      `--vlan ${b.vlan} is stored but no VLAN device is made: network_manager = ${config.networkManager}, not vlan`,
    );
  }
  const sharing = existing.filter((n) => n.bridge === bridge).map((n) => n.label);
  if (b.bridge === null && sharing.length) {
    out.push(
      `network ${b.label} shares bridge ${bridge} with ${sharing.join(", ")} because --bridge was not given: their instances see each other's traffic; pass --bridge NAME for a bridge of its own`,
    );
  }
  return out;
}

/** Header value: a JSON list, URI-encoded so that any text survives as a header. */
export function encodeWarnings(lines: readonly string[]): string {
  return encodeURIComponent(JSON.stringify(lines));
}

export function decodeWarnings(header: string | null): string[] {
  if (!header) return [];
  try {
    const list = JSON.parse(decodeURIComponent(header));
    return Array.isArray(list) ? list.filter((x): x is string => typeof x === "string") : [];
  } catch {
    return [];
  }
}
