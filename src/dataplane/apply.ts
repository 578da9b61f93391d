/**
 * The I/O shell around the renderers: applies a desired state with one `nft -f -` (plus
 * `iptables-restore --noflush` under the iptables driver) through the exec seam, keeps the last
 * applied state for deltas, times every apply, detects and repairs drift, and reads the drop
 * counters back into the metrics registry.
 */
import { createLogger, type Logger } from "../log.ts";
import { counter, gauge, registry as defaultRegistry, type Registry } from "../metrics.ts";
import type { DesiredState } from "./desired.ts";
import { iptablesDrift, nftJsonDrift, parseIptablesDrops, parseNftCounters } from "./drift.ts";
import { check, spawnExec, type Exec, type Stdin } from "../sys/exec.ts";
import { iptablesChains, JUMPS, parseSave, renderIptables, renderIptablesTeardown } from "./iptables-render.ts";
import { renderTables, tableChunks, type Table } from "./nft-model.ts";
import { OWNED_TABLES, renderTableDelta, renderUnused, TableBuilder } from "./nft-render.ts";
import { Pacer } from "./pace.ts";

const MARK_TABLE = "netlet-mark";
/** Longest piece of synchronous work in a sync before the event loop gets a turn. */
const SLICE_BUDGET_MS = 8;
/** Appended to every nft transaction netlet sends (see Dataplane.ownEvent). */
export const MARK_TEXT = `add table inet ${MARK_TABLE}\ndelete table inet ${MARK_TABLE}\n`;

export interface ApplyReport {
  kind: "full" | "delta" | "none";
  /** Wall time of the whole apply, milliseconds. */
  ms: number;
  /** Size of the nft transaction text. */
  bytes: number;
  /** Longest stretch of work between two turns of the event loop, milliseconds. */
  longestSliceMs: number;
}

export interface DataplaneOptions {
  /** Command runner (default: Bun.spawn on this host). */
  exec?: Exec;
  /** Notable events (drift repaired, apply failed). */
  log?: Logger;
  registry?: Registry;
  /** Monotonic milliseconds, for apply timing. */
  clock?: () => number;
}

/** Programs this host's dataplane from successive desired states. */
export class Dataplane {
  readonly #exec: Exec;
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly #applies;
  readonly #applyMs;
  readonly #drops;
  readonly #repairs;
  readonly #lastDrops = new Map<string, number>();
  #applied: DesiredState | null = null;
  /** The tables of `#applied`, as programmed: the next delta is their diff with the new ones. */
  #tables: Table[] | null = null;
  /** Builds tables, remembering each instance's share of them between passes. */
  readonly #builder = new TableBuilder();
  #iptablesChecked = false;
  #queue: Promise<unknown> = Promise.resolve();
  /** When each transaction whose marker removal has not been seen yet was sent. */
  #marks: number[] = [];
  /** Applies finished and applies running (a drift check that overlapped one looks again). */
  #appliesDone = 0;
  #inFlight = 0;

  constructor(opts: DataplaneOptions = {}) {
    this.#exec = opts.exec ?? spawnExec();
    this.#log = opts.log ?? createLogger({ base: { component: "dataplane" } });
    this.#clock = opts.clock ?? (() => performance.now());
    const reg = opts.registry ?? defaultRegistry;
    this.#applies = counter("netlet_dataplane_applies_total", "Dataplane applies by kind and result", reg);
    this.#applyMs = gauge("netlet_dataplane_apply_milliseconds", "Duration of the last dataplane apply by kind", reg);
    this.#drops = counter("netlet_dataplane_drops_total", "Packets dropped by netlet rules, by reason", reg);
    this.#repairs = counter("netlet_dataplane_drift_repairs_total", "Full syncs caused by detected drift", reg);
  }

  /** The last state applied successfully, or null before the first sync. */
  get applied(): DesiredState | null {
    return this.#applied;
  }

  /** Replace every table and chain netlet owns with `d`. */
  sync(d: DesiredState): Promise<ApplyReport> {
    return this.#serial(() => this.#full(d));
  }

  /** Apply only what changed since the last apply (full sync on the first call or on error). */
  update(d: DesiredState): Promise<ApplyReport> {
    return this.#serial(async () => {
      const prev = this.#applied;
      const before = this.#tables;
      if (!prev || !before || prev.config.firewallDriver !== d.config.firewallDriver) return this.#full(d);
      const t0 = this.#clock();
      const pace = new Pacer(this.#clock, SLICE_BUDGET_MS);
      const tables = await this.#build(d, pace);
      const text = renderTableDelta(before, tables);
      pace.handOff(); // what follows waits for nft
      try {
        if (text) await this.#nft(text);
        if (d.config.firewallDriver === "iptables") await this.#iptables(d);
      } catch (e) {
        this.#log.warn("delta apply failed, doing a full sync", { err: (e as Error).message });
        return this.#full(d);
      }
      this.#applied = d;
      this.#tables = tables;
      return this.#done("delta", t0, text.length, pace);
    });
  }

  /** Compare the kernel with the last applied state; returns the differences found. */
  async drift(): Promise<string[]> {
    const d = this.#applied;
    if (!d) return [];
    const out: string[] = [];
    for (const t of this.#tables ?? []) {
      const r = await this.#exec(["nft", "-j", "list", "table", t.family, t.name]);
      out.push(...nftJsonDrift(t, r.code === 0 ? r.stdout : null));
    }
    if (d.config.firewallDriver === "iptables") {
      const c = iptablesChains(d);
      out.push(...iptablesDrift(c.v4, parseSave(await this.#save("iptables-save")), JUMPS, "ipv4"));
      out.push(...iptablesDrift(c.v6, parseSave(await this.#save("ip6tables-save")), JUMPS, "ipv6"));
    }
    return out;
  }

  /** Detect drift and repair it with a full sync; true when a repair happened. */
  async reconcile(): Promise<boolean> {
    const d = this.#applied;
    if (!d) return false;
    // The check reads the kernel outside the apply queue, so a plug never waits behind it; an
    // apply that ran meanwhile may make the listing mix two states, so the check is repeated.
    for (let attempt = 0; attempt < 3; attempt++) {
      const before = this.#appliesDone;
      const found = await this.drift();
      if (found.length === 0) return false;
      if (this.#appliesDone !== before || this.#inFlight > 0) continue;
      this.#log.warn("drift detected, repairing with a full sync", {
        drift: `${found.slice(0, 5).join("; ")}${found.length > 5 ? `; +${found.length - 5} more` : ""}`,
      });
      this.#repairs.inc();
      await this.sync(this.#applied ?? d);
      return true;
    }
    return false;
  }

  /** Run `reconcile` and `readDrops` every `intervalMs`; returns a stop function. */
  startReconcile(intervalMs: number): () => void {
    let running = false;
    const timer = setInterval(async () => {
      if (running) return;
      running = true;
      try {
        await this.reconcile();
        await this.readDrops();
      } catch (e) {
        this.#log.error("reconcile failed", { err: (e as Error).message });
      } finally {
        running = false;
      }
    }, intervalMs);
    return () => clearInterval(timer);
  }

  /** Read the named drop counters from the kernel, feed the metrics, return the totals. */
  async readDrops(): Promise<Record<string, number>> {
    const totals = new Map<string, number>();
    const r = await this.#exec(["nft", "-j", "list", "counters"]);
    if (r.code === 0) for (const [k, v] of parseNftCounters(r.stdout, OWNED_TABLES)) totals.set(k, v);
    if (this.#applied?.config.firewallDriver === "iptables") {
      for (const bin of ["iptables-save", "ip6tables-save"]) {
        const s = await this.#exec([bin, "-c", "-t", "filter"]);
        for (const [k, v] of parseIptablesDrops(s.stdout)) totals.set(k, (totals.get(k) ?? 0) + v);
      }
    }
    for (const [reason, now] of totals) {
      const last = this.#lastDrops.get(reason) ?? 0;
      // A replaced table restarts its counters at zero.
      this.#drops.inc({ reason }, now >= last ? now - last : now);
      this.#lastDrops.set(reason, now);
    }
    return Object.fromEntries(totals);
  }

  async #full(d: DesiredState): Promise<ApplyReport> {
    const t0 = this.#clock();
    // Looking for leftover iptables chains (another driver) runs while the ruleset renders.
    const teardown = d.config.firewallDriver === "iptables" ? Promise.resolve() : this.#iptablesTeardown();
    teardown.catch(() => undefined);
    const tables: Table[] = [];
    const size = { bytes: 0 };
    const pace = new Pacer(this.#clock, SLICE_BUDGET_MS);
    try {
      await this.#nft(this.#fullText(d, tables, size, pace));
      if (d.config.firewallDriver === "iptables") await this.#iptables(d);
      await teardown;
    } catch (e) {
      this.#applies.inc({ kind: "full", result: "error" });
      this.#log.error("full sync failed", { err: (e as Error).message });
      // One bad line must not hold back every rule: apply each table in its own transaction
      // (nft may have stopped reading before every table was built).
      const failed = await this.#perTable(this.#builder.build(d));
      // Not recorded as applied: the next update is a full sync again.
      this.#applied = null;
      this.#tables = null;
      if (failed.length === 0) throw e; // every table applied alone: the failure was elsewhere (iptables)
      throw new Error(
        `nft table(s) ${failed.map((f) => f.table).join(", ")} could not be applied (the other tables were): ${failed[0].error}`,
      );
    }
    this.#applied = d;
    this.#tables = tables;
    this.#lastDrops.clear();
    return this.#done("full", t0, size.bytes, pace);
  }

  /**
   * The full sync's transaction, produced while nft reads it: each table is rendered as soon as
   * it is built, and the work pauses for the event loop whenever a slice has used its budget, so
   * a 10,000-instance sync never stalls the agent for long. Still one transaction: nft commits
   * only once it has read everything. Built tables are appended to `tables`.
   */
  async *#fullText(d: DesiredState, tables: Table[], size: { bytes: number }, pace: Pacer): AsyncGenerator<string> {
    const ready: Table[] = [];
    const steps = this.#builder.steps(d, (t) => ready.push(t));
    for (let r = steps.next(); ; r = steps.next()) {
      for (let t = ready.shift(); t; t = ready.shift()) {
        tables.push(t);
        for (const chunk of tableChunks([t])) {
          size.bytes += chunk.length;
          pace.handOff();
          yield chunk;
          pace.resume();
          await pace.pause();
        }
      }
      if (r.done) break;
      await pace.pause();
    }
    const removal = renderUnused(d);
    size.bytes += removal.length;
    pace.handOff();
    yield removal;
  }

  /** `#builder.steps(d)` with pauses for the event loop. */
  async #build(d: DesiredState, pace: Pacer): Promise<Table[]> {
    const steps = this.#builder.steps(d);
    for (let r = steps.next(); ; r = steps.next()) {
      if (r.done) return r.value;
      await pace.pause();
    }
  }

  /** Each table alone; returns the ones nft refused, with its error. */
  async #perTable(tables: Table[]): Promise<{ table: string; error: string }[]> {
    const failed: { table: string; error: string }[] = [];
    for (const t of tables) {
      try {
        await this.#nft(renderTables([t]));
      } catch (e) {
        failed.push({ table: `${t.family} ${t.name}`, error: (e as Error).message });
      }
    }
    if (failed.length < tables.length)
      this.#log.warn(`applied ${tables.length - failed.length} of ${tables.length} tables one by one`, {
        failing: failed.map((f) => f.table).join(", "),
      });
    return failed;
  }

  #done(kind: "full" | "delta", t0: number, bytes: number, pace: Pacer): ApplyReport {
    const ms = this.#clock() - t0;
    this.#applies.inc({ kind, result: "ok" });
    this.#applyMs.set(ms, { kind });
    return { kind: bytes === 0 && kind === "delta" ? "none" : kind, ms, bytes, longestSliceMs: pace.longestMs };
  }

  async #nft(text: string | AsyncIterable<string>): Promise<void> {
    // Each transaction ends by adding and removing a marker table: in the kernel's event stream
    // its removal follows every removal the transaction made, so a watcher can tell them apart
    // from someone else's (see ownEvent).
    const pieces: Stdin = typeof text === "string" ? text + MARK_TEXT : withMark(text);
    this.#marks.push(this.#clock());
    const r = await this.#exec(["nft", "-f", "-"], pieces);
    if (r.code !== 0) this.#marks.pop(); // aborted: the kernel announced nothing
    check(["nft", "-f", "-"], r);
  }

  /**
   * Feed one `nft monitor destroy` line; true when it belongs to one of netlet's own
   * transactions (a plug replaces elements, a full sync replaces tables), false when someone
   * else removed something and a drift check is due.
   */
  ownEvent(line: string): boolean {
    // A marker the watcher never saw (it was restarting) is given up after a few seconds.
    const now = this.#clock();
    while (this.#marks.length && now - this.#marks[0] > 5000) this.#marks.shift();
    if (line.includes(MARK_TABLE)) {
      this.#marks.shift();
      return true;
    }
    return this.#marks.length > 0;
  }

  async #save(bin: string): Promise<string> {
    const r = await this.#exec([bin]);
    return r.code === 0 ? r.stdout : "";
  }

  async #iptables(d: DesiredState): Promise<void> {
    const ex4 = parseSave(await this.#save("iptables-save"));
    const ex6 = parseSave(await this.#save("ip6tables-save"));
    const p = renderIptables(d, ex4, ex6);
    check(["iptables-restore"], await this.#exec(["iptables-restore", "--noflush"], p.v4));
    check(["ip6tables-restore"], await this.#exec(["ip6tables-restore", "--noflush"], p.v6));
    this.#iptablesChecked = false;
  }

  /** Remove netlet's iptables chains once after switching away from the iptables driver. */
  async #iptablesTeardown(): Promise<void> {
    if (this.#iptablesChecked) return;
    for (const [save, restore, tables] of [
      ["iptables-save", "iptables-restore", ["nat", "filter"]],
      ["ip6tables-save", "ip6tables-restore", ["filter"]],
    ] as const) {
      const r = await this.#exec([save]);
      if (r.code !== 0) continue; // iptables absent: nothing of ours can be there
      const text = renderIptablesTeardown(parseSave(r.stdout), [...tables]);
      if (text) check([restore], await this.#exec([restore, "--noflush"], text));
    }
    this.#iptablesChecked = true;
  }

  /** Applies never interleave: each waits for the previous one. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const counted = async () => {
      this.#inFlight += 1;
      try {
        return await fn();
      } finally {
        this.#inFlight -= 1;
        this.#appliesDone += 1;
      }
    };
    const run = this.#queue.then(counted, counted);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

async function* withMark(text: AsyncIterable<string>): AsyncGenerator<string> {
  yield* text;
  yield MARK_TEXT;
}
