/**
 * Bounded metadata access logging. Answered requests are logged one line each; refused ones
 * (4xx/5xx: rate-limited, unknown source, not found…) are aggregated per source: the first
 * refusal of an interval is logged at once, the rest are counted and summed up in one line per
 * source when the interval ends. A VM hammering the service thus costs at most two lines per
 * interval, not one per request. Sans-IO: the caller passes `now` and writes the lines.
 */
import type { AccessLogEntry } from "./guards.ts";

export interface RefusalSummary {
  source: string;
  /** Refused requests after the first one logged in this interval. */
  count: number;
  /** Count per status code. */
  statuses: Record<string, number>;
  instance: string | null;
}

export type AccessLine = { kind: "request"; entry: AccessLogEntry } | { kind: "refused"; summary: RefusalSummary };

export class AccessAggregator {
  /** Sources seen refusing in the current interval; bounded by `maxSources`. */
  readonly #sources = new Map<string, RefusalSummary>();
  /** Refusals from sources beyond the bound, summed into one line. */
  #overflow: RefusalSummary | null = null;
  #intervalStart: number;

  constructor(
    now: number,
    readonly intervalMs = 10_000,
    readonly maxSources = 1024,
  ) {
    this.#intervalStart = now;
  }

  /** The lines to write now for this request (none when it was counted). */
  record(e: AccessLogEntry, now: number): AccessLine[] {
    const out = this.flush(now);
    if (e.status < 400) return [...out, { kind: "request", entry: e }];
    const seen = this.#sources.get(e.source);
    if (seen) {
      seen.count += 1;
      seen.statuses[e.status] = (seen.statuses[e.status] ?? 0) + 1;
      return out;
    }
    if (this.#sources.size >= this.maxSources) {
      const o = (this.#overflow ??= { source: "other", count: 0, statuses: {}, instance: null });
      o.count += 1;
      o.statuses[e.status] = (o.statuses[e.status] ?? 0) + 1;
      return out;
    }
    this.#sources.set(e.source, { source: e.source, count: 0, statuses: {}, instance: e.instance });
    return [...out, { kind: "request", entry: e }];
  }

  /** At the end of an interval: one summary line per source that was refused again. */
  flush(now: number): AccessLine[] {
    if (now - this.#intervalStart < this.intervalMs) return [];
    this.#intervalStart = now;
    const out: AccessLine[] = [];
    for (const s of this.#sources.values()) if (s.count > 0) out.push({ kind: "refused", summary: s });
    if (this.#overflow) out.push({ kind: "refused", summary: this.#overflow });
    this.#sources.clear();
    this.#overflow = null;
    return out;
  }
}
