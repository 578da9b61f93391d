/**
 * Named alarms: what is failing right now on this host, one entry per failing part, so that one
 * failure shows in `netlet status`, /readyz, the `netlet_alarm` metric and `netlet doctor`
 * without hiding the others. Two kinds: a condition (a reconcile step that fails until it
 * succeeds again: set/clear) and an event (a dropped packet: raised, counted, and cleared
 * `ttlMs` after the last occurrence). The set of names is fixed by the code, so it is bounded.
 */
import type { Gauge } from "../metrics.ts";

export interface Alarm {
  name: string;
  message: string;
  /** When it was first raised (ms). */
  since: number;
  /** Occurrences (events) or 1 (conditions). */
  count: number;
}

interface Entry extends Alarm {
  last: number;
  ttlMs: number | null;
}

export class Alarms {
  readonly #active = new Map<string, Entry>();

  constructor(
    readonly now: () => number = Date.now,
    /** netlet_alarm{name}: 1 while raised, 0 once cleared. */
    readonly gauge: Gauge | null = null,
  ) {}

  /** A condition that holds until clear(). */
  set(name: string, message: string): void {
    const t = this.now();
    const prev = this.#active.get(name);
    this.#active.set(name, { name, message, since: prev?.since ?? t, count: 1, last: t, ttlMs: null });
    this.gauge?.set(1, { name });
  }

  clear(name: string): void {
    if (this.#active.delete(name)) this.gauge?.set(0, { name });
  }

  /** An occurrence of a transient failure: raised for `ttlMs` after the last one. */
  event(name: string, message: string, ttlMs: number): void {
    const t = this.now();
    const prev = this.#active.get(name);
    this.#active.set(name, { name, message, since: prev?.since ?? t, count: (prev?.count ?? 0) + 1, last: t, ttlMs });
    this.gauge?.set(1, { name });
  }

  list(): Alarm[] {
    const t = this.now();
    for (const e of [...this.#active.values()]) if (e.ttlMs !== null && t - e.last > e.ttlMs) this.clear(e.name);
    return [...this.#active.values()].map(({ name, message, since, count }) => ({ name, message, since, count }));
  }

  /** One line per alarm, as status and /readyz print them. */
  lines(): string[] {
    return this.list().map((a) => `${a.name}: ${a.message}${a.count > 1 ? ` (${a.count} times)` : ""}`);
  }
}
