/**
 * I/O shell for links: read the host through `ip -j`, `bridge -j` and `sysctl`, plan with
 * `planLinks`, run the steps in order.
 */
import type { DesiredState, FloatingOnHost } from "./desired.ts";
import { spawnExec, type Exec } from "../sys/exec.ts";
import { createLogger, type Logger } from "../log.ts";
import { planLinks, wantedSysctls, type LinkSnapshot, type Step } from "./links.ts";
import { EMPTY_OWNED, nextOwned, planWithdraw, type Owned } from "./owned.ts";

async function json<T>(exec: Exec, argv: string[]): Promise<T[]> {
  const r = await exec(argv);
  if (r.code !== 0 || !r.stdout.trim()) return [];
  try {
    return JSON.parse(r.stdout) as T[];
  } catch {
    return [];
  }
}

/** Read what `planLinks` needs. */
export async function readLinks(exec: Exec, d: DesiredState): Promise<LinkSnapshot> {
  const links = await json<LinkSnapshot["links"][number]>(exec, ["ip", "-j", "-d", "link", "show"]);
  const addrs = await json<LinkSnapshot["addrs"][number]>(exec, ["ip", "-j", "addr", "show"]);
  const routes = await json<LinkSnapshot["routes"][number]>(exec, ["ip", "-j", "-4", "route", "show"]);
  const flood: Record<string, string[]> = {};
  for (const n of [...d.networks, ...d.standby]) {
    if (!n.vxlan) continue;
    const dev = `vxlan${n.vxlan.vni}`;
    const fdb = await json<{ mac: string; dst?: string }>(exec, ["bridge", "-j", "fdb", "show", "dev", dev]);
    flood[dev] = fdb.filter((e) => e.mac === "00:00:00:00:00:00" && e.dst).map((e) => e.dst!);
  }
  const sysctl: Record<string, string> = {};
  for (const k of Object.keys(wantedSysctls(d))) {
    const r = await exec(["sysctl", "-n", k]);
    if (r.code === 0) sysctl[k] = r.stdout.trim();
  }
  return { links, addrs, routes, flood, sysctl };
}

export interface LinksOptions {
  exec?: Exec;
  log?: Logger;
  /**
   * An unchanged desired state is checked against the host again only after this long (default
   * 10 s, under the reconciler's 30 s periodic pass): reading links, addresses, routes and
   * sysctls takes several processes, and most passes (a boot on a served network) change none.
   */
  recheckMs?: number;
  now?: () => number;
  /** Where the record of what netlet added lives (the store's meta table); none: nothing is withdrawn. */
  owned?: OwnedStore;
}

export interface OwnedStore {
  load(): Owned;
  save(o: Owned): void;
}

export interface LinksReport {
  ran: Step[];
  /** Steps skipped because this kernel lacks the device type, with the reason. */
  skipped: { step: Step; reason: string }[];
}

/** Keeps the host's links in line with successive desired states. */
export class Links {
  readonly #exec: Exec;
  readonly #log: Logger;
  /** Floating IPs of the last applied state; null until the first pass reads the record. */
  #floating: FloatingOnHost[] | null = null;
  readonly #recheckMs: number;
  readonly #now: () => number;
  readonly #owned: OwnedStore | null;
  /** The link-relevant part of the last desired state applied in full, and when. */
  #applied = { key: "", at: -Infinity };

  constructor(opts: LinksOptions = {}) {
    this.#exec = opts.exec ?? spawnExec();
    this.#log = opts.log ?? createLogger({ base: { component: "dataplane" } });
    this.#recheckMs = opts.recheckMs ?? 10_000;
    this.#now = opts.now ?? Date.now;
    this.#owned = opts.owned ?? null;
  }

  /**
   * Plan against the live host and run every step it can: a failing step (a missing
   * public_interface, say) does not hold back the bridges and addresses of the others. Throws
   * after the last step, naming what failed.
   */
  async apply(d: DesiredState): Promise<LinksReport> {
    // What planLinks reads: configuration, networks (bridges, addresses, VXLAN peers), floating IPs.
    const key = JSON.stringify([d.config, d.networks, d.standby, d.floatingIps]);
    const now = this.#now();
    if (key === this.#applied.key && now - this.#applied.at < this.#recheckMs) return { ran: [], skipped: [] };
    const cur = await readLinks(this.#exec, d);
    const owned = this.#owned?.load() ?? null;
    // What this host no longer serves goes last: new networks never wait for an old one's cleanup.
    const served = new Set(d.networks.map((n) => n.bridge));
    const withdraw = owned
      ? planWithdraw(owned, served, cur, false, new Set([...served, ...d.standby.map((n) => n.bridge)]))
      : [];
    // After a restart the floating /32s served before come from the record: one that moved to
    // another host while this agent was down (a migrated instance) must not stay here too.
    this.#floating ??= owned?.floating ?? [];
    const steps = [...planLinks(d, cur, this.#floating), ...withdraw];
    const report: LinksReport = { ran: [], skipped: [] };
    const missing = new Map<string, string>();
    const failed: string[] = [];
    for (const s of steps) {
      const dev = s.argv.find((a) => missing.has(a));
      if (dev) {
        report.skipped.push({ step: s, reason: missing.get(dev)! });
        continue;
      }
      if (s.detach) {
        void this.#exec(s.argv).then((r) => {
          if (r.code !== 0 && !s.tolerate?.includes(r.code))
            this.#log.warn("links: step failed", { step: s.argv.join(" "), code: r.code, err: r.stderr.trim() });
        });
        report.ran.push(s);
        continue;
      }
      const r = await this.#exec(s.argv);
      if (r.code === 0 || s.tolerate?.includes(r.code)) {
        report.ran.push(s);
        continue;
      }
      if (s.needsKind && /Unknown device type|not supported/i.test(r.stderr)) {
        const reason = `this kernel has no ${s.needsKind} devices`;
        this.#log.warn("links: skipped", { step: s.argv.join(" "), reason });
        report.skipped.push({ step: s, reason });
        // Later steps on the device that could not be created are skipped for the same reason.
        missing.set(s.argv[s.argv.indexOf("name") + 1], reason);
        continue;
      }
      failed.push(`cannot ${s.why}: "${s.argv.join(" ")}" exited ${r.code}: ${r.stderr.trim()}`);
    }
    this.#owned?.save(nextOwned(owned ?? EMPTY_OWNED, d, report.ran, failed.length === 0));
    if (failed.length) {
      // Not recorded as applied: the next pass plans again against the host.
      throw new Error(
        `${failed.length} link step(s) failed: ${failed.slice(0, 3).join("; ")}${failed.length > 3 ? "; …" : ""}`,
      );
    }
    this.#floating = d.floatingIps;
    this.#applied = { key, at: now };
    return report;
  }
}
