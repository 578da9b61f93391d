/** DNS counters, in the agent's one registry (rendered on /metrics). */
import {
  counter,
  gauge,
  histogram,
  registry,
  type Counter,
  type Gauge,
  type Histogram,
  type Registry,
} from "../metrics.ts";

export interface DnsMetrics {
  /** Answered queries by `type` (A, AAAA, PTR, …), `rcode` and `source` (zone, cache, upstream, policy). */
  queries: Counter;
  /** Packets dropped or refused by `reason` (outsider, rate, malformed, upstream_id, …). */
  dropped: Counter;
  cacheHits: Counter;
  cacheMisses: Counter;
  cacheEntries: Gauge;
  /** Upstream round trips, seconds. */
  upstreamLatency: Histogram;
  /** Questions the upstreams did not answer in time, by `reason` (timeout, busy, no_upstream). */
  upstreamFailures: Counter;
  /** Listeners by `state`: serving, or failing (address missing, port taken). */
  listeners: Gauge;
}

export function dnsMetrics(reg: Registry = registry): DnsMetrics {
  return {
    queries: counter("netlet_dns_queries_total", "DNS queries answered, by type, rcode and source", reg),
    dropped: counter("netlet_dns_dropped_total", "DNS packets dropped or refused, by reason", reg),
    cacheHits: counter("netlet_dns_cache_hits_total", "Forwarded questions answered from the cache", reg),
    cacheMisses: counter("netlet_dns_cache_misses_total", "Forwarded questions not in the cache", reg),
    cacheEntries: gauge("netlet_dns_cache_entries", "Entries in the DNS cache", reg),
    upstreamLatency: histogram(
      "netlet_dns_upstream_latency_seconds",
      "Upstream DNS round trip",
      [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2],
      reg,
    ),
    upstreamFailures: counter(
      "netlet_dns_upstream_failures_total",
      "Forwarded questions without an upstream answer, by reason",
      reg,
    ),
    listeners: gauge("netlet_dns_listeners", "DNS listeners by state (serving, failing)", reg),
  };
}
