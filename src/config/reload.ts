/**
 * SIGHUP: which changed options take effect at once and which need a restart. Options read only
 * at start-up (listeners, identity, state, module construction) keep their running value until
 * the agent restarts, and the log names them.
 */
import { OPTIONS } from "./options.ts";
import type { Config } from "./load.ts";

const RESTART_ONLY = new Set([
  "host",
  "my_ip",
  "state_path",
  "admin_socket",
  "admin_listen",
  "log_level",
  "network_manager",
  "use_ipv6",
  "metadata_listen",
  "metadata_listen_port",
  "metadata_cache_expiration",
  "dns_service",
  "dns_rate_limit",
  "metadata_workers",
  "vendordata_jsonfile_path",
  "vendordata_dynamic_targets",
  "bind",
  "advertise",
  "join",
  "name",
  "key_file",
  "block_prefix",
  "libvirt_uri",
  "libvirt_poll_interval",
  "libvirt_undefine_grace",
]);

const camel = (k: string) => k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function get(c: Config, section: string, key: string): unknown {
  const obj = (section === "cluster" ? c.cluster : c) as unknown as Record<string, unknown>;
  return obj[camel(key)];
}

export interface ReloadPlan {
  /** The configuration to run with: new values, except restart-only ones. */
  config: Config;
  applied: string[];
  needsRestart: string[];
}

export function planReload(running: Config, next: Config): ReloadPlan {
  const applied: string[] = [];
  const needsRestart: string[] = [];
  const merged = { ...next, cluster: { ...next.cluster } } as unknown as Record<string, unknown>;
  for (const o of OPTIONS) {
    const before = get(running, o.section, o.key);
    if (JSON.stringify(before) === JSON.stringify(get(next, o.section, o.key))) continue;
    if (RESTART_ONLY.has(o.key)) {
      needsRestart.push(o.key);
      const target = o.section === "cluster" ? (merged.cluster as Record<string, unknown>) : merged;
      target[camel(o.key)] = before;
    } else applied.push(o.key);
  }
  return { config: merged as unknown as Config, applied, needsRestart };
}
