/**
 * Settings of the metadata service, with nova's option names in the comments so operators can
 * carry their nova.conf values over. Validated once at construction.
 */

export type ImdsMode = "optional" | "required";

export interface MetadataConfig {
  /** nova `dhcp_domain`: hostname is `<hostname>.<dhcp_domain>`, bare when empty. @default "novalocal" */
  dhcpDomain: string;
  /**
   * nova `metadata_cache_expiration`, seconds. Rendered documents are dropped by change events
   * at once; this bounds staleness of anything not evented. 0 disables caching. @default 15
   */
  cacheExpiration: number;
  /** nova `vendordata_jsonfile_path`: the parsed JSON of that file (null when unset). */
  vendordataStatic: unknown;
  /** nova `vendordata_dynamic_targets`: entries `name@url`. @default [] */
  vendordataDynamicTargets: string[];
  /** Total time allowed for one dynamic vendordata POST, ms (nova: 5 s connect + 5 s read). @default 5000 */
  vendordataTimeoutMs: number;
  /** IMDSv2: `optional` serves token-less requests, `required` answers them 401. @default "optional" */
  imdsMode: ImdsMode;
  /**
   * nova `[neutron] metadata_proxy_shared_secret` with `service_metadata_proxy = True`: the
   * instance comes from signed X-Instance-ID headers instead of the source address. null = off.
   * @default null
   */
  proxySharedSecret: string | null;
  /** Largest request body read, bytes (password POSTs are capped at 1020 anyway). @default 4096 */
  maxBodyBytes: number;
  /** Per-source token bucket: sustained requests per second. @default 100 */
  rateLimitPerSecond: number;
  /** Per-source token bucket size (a cloud-init boot is ~27 requests). @default 200 */
  rateLimitBurst: number;
  /** Most sources tracked by the rate limiter; the least recently seen are forgotten. @default 65536 */
  rateLimitSources: number;
  /** Most cached instances; the least recently used are evicted. @default 65536 */
  cacheInstances: number;
}

export const DEFAULT_METADATA_CONFIG: MetadataConfig = {
  dhcpDomain: "novalocal",
  cacheExpiration: 15,
  vendordataStatic: null,
  vendordataDynamicTargets: [],
  vendordataTimeoutMs: 5000,
  imdsMode: "optional",
  proxySharedSecret: null,
  maxBodyBytes: 4096,
  rateLimitPerSecond: 100,
  rateLimitBurst: 200,
  rateLimitSources: 65536,
  cacheInstances: 65536,
};

/** Defaults overlaid with `partial`, validated; throws RangeError/TypeError naming the field. */
export function metadataConfig(partial: Partial<MetadataConfig> = {}): MetadataConfig {
  const cfg = { ...DEFAULT_METADATA_CONFIG, ...partial };
  const nonNegative = ["cacheExpiration", "vendordataTimeoutMs", "maxBodyBytes"] as const;
  for (const k of nonNegative) {
    if (!Number.isFinite(cfg[k]) || cfg[k] < 0) {
      throw new RangeError(`Cannot configure metadata as '${k}' must be >= 0: current value is ${cfg[k]}`);
    }
  }
  const positive = ["rateLimitPerSecond", "rateLimitBurst", "rateLimitSources", "cacheInstances"] as const;
  for (const k of positive) {
    if (!Number.isFinite(cfg[k]) || cfg[k] <= 0) {
      throw new RangeError(`Cannot configure metadata as '${k}' must be > 0: current value is ${cfg[k]}`);
    }
  }
  if (cfg.imdsMode !== "optional" && cfg.imdsMode !== "required") {
    throw new TypeError(
      `Cannot configure metadata as 'imdsMode' must be optional or required: current value is ${cfg.imdsMode}`,
    );
  }
  return cfg;
}
