/**
 * Turns committed store changes into the running modules' configuration. Changes are coalesced:
 * a burst of events (a boot writes several rows) causes one pass, and a pass never runs twice at
 * once — changes arriving during a pass mark it dirty and one more pass follows. Each pass reads
 * one HostView and hands every module its slice, in dependency order: links (bridges and their
 * addresses) → DHCP, RA and metadata listeners → nft rules.
 */
import type { ChangeEvent } from "../model.ts";
import type { Logger } from "../log.ts";
import type { Config } from "../config/load.ts";
import type { Store } from "../store/db.ts";
import { type Cancel, type Clock, realClock } from "../util/clock.ts";
import { readHostView, type ClusterView, type HostView } from "./host-view.ts";

export interface ReconcileTargets {
  /** Bridges, uplinks, host addresses, floating /32s. */
  links?: (view: HostView) => Promise<void>;
  dhcp?: (view: HostView) => void;
  ra?: (view: HostView) => void;
  metadata?: (view: HostView, events: readonly ChangeEvent[]) => void;
  dns?: (view: HostView) => void;
  /** nft/iptables rules. */
  firewall?: (view: HostView) => Promise<void>;
}

export interface ReconcileStatus {
  passes: number;
  lastPassMs: number | null;
  /** The failing steps of the last pass, joined; null when every step succeeded. */
  lastError: string | null;
  lastAt: number | null;
  /** Each failing step of the last pass and why: the others were applied regardless. */
  failing: Record<string, string>;
  /** How long each step of the last pass took (ms), for the steps it ran: where a slow pass spends its time. */
  stepMs: Partial<Record<ReconcileStep, number>>;
}

/** The steps of a pass, in dependency order; each is applied even when an earlier one failed. */
export const RECONCILE_STEPS = ["view", "links", "dhcp", "ra", "metadata", "dns", "firewall"] as const;
export type ReconcileStep = (typeof RECONCILE_STEPS)[number];

/** Entities that only the rules read: a pass caused by them alone skips the other steps. */
const RULES_ONLY: ReadonlySet<string> = new Set(["vif_port"]);

/**
 * The steps a pass must run. A pass caused only by port plugs and unplugs touches the rules
 * alone (a plug answers once its port is guarded, and the other steps cost as much as the
 * host's instances); periodic passes, any other change and steps that failed last time run all.
 */
export function stepsFor(
  events: readonly ChangeEvent[],
  failing: Readonly<Record<string, string>>,
): ReadonlySet<ReconcileStep> {
  const all = new Set<ReconcileStep>(RECONCILE_STEPS);
  if (events.length === 0 || !events.every((e) => RULES_ONLY.has(e.entity))) return all;
  return new Set<ReconcileStep>(["view", "firewall", ...(Object.keys(failing) as ReconcileStep[])]);
}

export class Reconciler {
  readonly status: ReconcileStatus = {
    passes: 0,
    lastPassMs: null,
    lastError: null,
    lastAt: null,
    failing: {},
    stepMs: {},
  };
  /** Told after every step whether it failed (null: it succeeded), to raise or clear its alarm. */
  onStep: (step: ReconcileStep, error: string | null) => void = () => {};
  #pending: ChangeEvent[] = [];
  #running: Promise<void> | null = null;
  #dirty = false;
  #unsubscribe: () => void;
  #timer: Cancel | null = null;
  /** The follow-up pass a pending floating IP asked for. */
  #recheck: Cancel | null = null;
  /** Store commits the last completed pass had seen, and callers waiting for a newer one. */
  #doneAt = 0;
  #waiters: { want: number; resolve: () => void }[] = [];

  constructor(
    readonly store: Store,
    public config: Config,
    readonly targets: ReconcileTargets,
    readonly log: Logger,
    readonly cluster: ClusterView | null = null,
    /** Pause between back-to-back passes while changes keep coming (see #loop). */
    readonly minGapMs = 25,
    readonly clock: Clock = realClock,
  ) {
    this.#unsubscribe = store.subscribe((events) => this.#onChange(events));
  }

  /** Periodic full pass (repairs anything changed behind our back). */
  every(ms: number): void {
    this.#timer?.();
    this.#timer = this.clock.every(ms, () => void this.kick());
  }

  /** Run a pass now (or right after the current one). Resolves when the state is applied. */
  kick(events: readonly ChangeEvent[] = []): Promise<void> {
    this.#pending.push(...events);
    if (this.#running) {
      this.#dirty = true;
      return this.#running;
    }
    this.#running = this.#loop().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  /**
   * Resolves once a pass that read the store after every commit so far has finished (a plug
   * waits for its own binding, not for every pass a busy host runs after it).
   */
  applied(): Promise<void> {
    const want = this.store.commits;
    if (this.#doneAt >= want) return Promise.resolve();
    const p = new Promise<void>((resolve) => this.#waiters.push({ want, resolve }));
    if (!this.#running) void this.kick();
    return p;
  }

  #onChange(events: readonly ChangeEvent[]): void {
    // Leases change on every DHCP exchange but alter nothing the reconcilers render.
    if (events.every((e) => e.entity === "lease")) return;
    void this.kick(events);
  }

  async #loop(): Promise<void> {
    do {
      this.#dirty = false;
      const events = this.#pending.splice(0);
      await this.#pass(events);
      // Changes that arrived during the pass wait a moment more: in a burst (a boot storm, a
      // peer's rows streaming in) one pass then covers many of them, and the event loop keeps
      // time for the API and gossip. A single change after a quiet spell is handled at once.
      if (this.#dirty && this.minGapMs > 0) await this.clock.sleep(this.minGapMs);
    } while (this.#dirty);
  }

  /** Run one step; a failure is recorded and logged, and the pass goes on with the next step. */
  async #step(name: ReconcileStep, fn: () => unknown): Promise<boolean> {
    const t0 = performance.now();
    try {
      await fn();
      this.status.stepMs[name] = Math.round((performance.now() - t0) * 10) / 10;
      delete this.status.failing[name];
      this.onStep(name, null);
      return true;
    } catch (err) {
      const msg = String(err instanceof Error ? err.message : err);
      this.status.failing[name] = msg;
      this.onStep(name, msg);
      this.log.error(
        "reconcile step failed; the other steps were applied, retrying on the next change or periodic pass",
        { step: name, err: msg },
      );
      return false;
    }
  }

  async #pass(events: readonly ChangeEvent[]): Promise<void> {
    const t0 = performance.now();
    const t = this.targets;
    const seen = this.store.commits;
    // Only the steps this pass runs are timed (a plug's pass runs two of them).
    this.status.stepMs = {};
    let view: HostView | null = null;
    await this.#step("view", () => {
      view = readHostView(this.store, this.config, this.cluster);
    });
    if (view) {
      const v: HostView = view;
      // A floating IP's serving slot is granted by the cluster's majority: look again shortly.
      if (v.floatingPending > 0) {
        this.#recheck?.();
        this.#recheck = this.clock.setTimer(500, () => void this.kick());
      }
      // Links first (bridges the others bind to), but a failing link does not hold back the
      // DHCP hosts, RA prefixes or rules of everything else.
      const run = stepsFor(events, this.status.failing);
      const steps: [ReconcileStep, () => unknown][] = [
        ["links", () => t.links?.(v)],
        ["dhcp", () => t.dhcp?.(v)],
        ["ra", () => t.ra?.(v)],
        ["metadata", () => t.metadata?.(v, events)],
        ["dns", () => t.dns?.(v)],
        ["firewall", () => t.firewall?.(v)],
      ];
      for (const [name, fn] of steps) if (run.has(name)) await this.#step(name, fn);
    }
    const failing = Object.entries(this.status.failing);
    this.status.lastError = failing.length ? failing.map(([k, e]) => `${k}: ${e}`).join("; ") : null;
    this.status.passes += 1;
    this.status.lastPassMs = Math.round((performance.now() - t0) * 10) / 10;
    this.status.lastAt = this.clock.now();
    this.#doneAt = Math.max(this.#doneAt, seen);
    const ready = this.#waiters.filter((w) => w.want <= seen);
    this.#waiters = this.#waiters.filter((w) => w.want > seen);
    for (const w of ready) w.resolve();
  }

  stop(): void {
    this.#unsubscribe();
    this.#timer?.();
    this.#recheck?.();
    this.#timer = this.#recheck = null;
  }
}
