/**
 * The agent's side of the libvirt integration: at start and every `libvirt_poll_interval`, list
 * libvirt's domains with virsh and apply planLifecycle (lifecycle.ts) through the admin API
 * in-process, so the same validation and port rules apply as for the hook. Domains netlet cannot
 * serve (unknown network, pool exhausted, invalid metadata) become alarms in `netlet status`.
 * virsh runs asynchronously: a hook waiting on this agent is never blocked behind libvirt.
 */
import { existsSync } from "node:fs";
import type { Logger } from "../log.ts";
import { counter, gauge, registry, type Registry } from "../metrics.ts";
import type { Store } from "../store/db.ts";
import { listInstances } from "../store/instances.ts";
import { listTrackedDomains, markDomainMissing, trackDomain, untrackDomain } from "../store/libvirt-domains.ts";
import { AgentRefused } from "./agent-call.ts";
import { applyHook, type ApiCaller } from "./hook.ts";
import { planLifecycle, type ListedDomain } from "./lifecycle.ts";
import { spawnExec } from "../sys/exec.ts";

export interface WatchOptions {
  uri: string;
  pollMs: number;
  graceMs: number;
  /** The admin app's fetch (Request → Response). */
  fetch: (req: Request) => Response | Promise<Response>;
  log: Logger;
  now?: () => number;
  /** Runs virsh; injected by tests. */
  virsh?: (args: string[]) => Promise<string>;
  registry?: Registry;
}

const MAX_ALARMS = 20;

/** The Unix socket a libvirt URI connects to, when it can be told from the URI. */
export function libvirtSocket(uri: string): string | null {
  const m = /[?&]socket=([^&]+)/.exec(uri);
  if (m) return decodeURIComponent(m[1]);
  return /^qemu(\+unix)?:\/\/\/system$/.test(uri) ? "/run/libvirt/libvirt-sock" : null;
}

const virshExec = spawnExec([], { timeoutMs: 15_000 });

async function runVirsh(uri: string, args: string[]): Promise<string> {
  const r = await virshExec(["virsh", "-q", "-c", uri, ...args]);
  if (r.code !== 0) throw new Error(`virsh ${args[0]}: ${r.stderr.trim().split("\n")[0] || `exit ${r.code}`}`);
  return r.stdout;
}

export class LibvirtWatch {
  alarms: string[] = [];
  #timer: ReturnType<typeof setInterval> | null = null;
  #busy: Promise<void> | null = null;
  readonly #virsh: (args: string[]) => Promise<string>;
  readonly #now: () => number;
  readonly #alarmGauge;
  readonly #deleted;

  constructor(
    private readonly store: Store,
    private readonly o: WatchOptions,
  ) {
    this.#virsh = o.virsh ?? ((args) => runVirsh(o.uri, args));
    this.#now = o.now ?? Date.now;
    const reg = o.registry ?? registry;
    this.#alarmGauge = gauge(
      "netlet_libvirt_alarms",
      "libvirt domains (or the listing itself) netlet could not serve at the last reconciliation",
      reg,
    );
    this.#deleted = counter(
      "netlet_libvirt_undefined_deleted_total",
      "Instances deleted because their libvirt domain was undefined",
      reg,
    );
  }

  start(): void {
    void this.pass();
    this.#timer = setInterval(() => void this.pass(), this.o.pollMs);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  /** One reconciliation; concurrent calls share the pass in flight. */
  pass(): Promise<void> {
    this.#busy ??= this.#pass().finally(() => (this.#busy = null));
    return this.#busy;
  }

  async #pass(): Promise<void> {
    // No libvirtd here (its socket is absent): nothing to reconcile, and nothing is deleted.
    const sock = libvirtSocket(this.o.uri);
    if (sock && !existsSync(sock) && !this.o.virsh) {
      this.alarms = [];
      return;
    }
    const alarms: string[] = [];
    let listed: ListedDomain[];
    try {
      listed = await this.#list();
    } catch (err) {
      this.alarms = [`libvirt: cannot list domains on ${this.o.uri}: ${(err as Error).message}`];
      this.#alarmGauge.set(1);
      return;
    }
    const instances = new Set(listInstances(this.store, { host: this.store.nodeId }).map((i) => i.uuid));
    const plan = planLifecycle(this.#now(), this.o.graceMs, listed, listTrackedDomains(this.store), instances);
    const call = this.#caller();
    for (const h of plan.hook) {
      try {
        await applyHook(h.op, h.domain.xml, call, {
          startWhenAgentDown: false,
          warn: (l) => alarms.push(`libvirt: ${l}`),
        });
      } catch (err) {
        alarms.push(`libvirt: ${(err as Error).message}`);
      }
    }
    // Instances the hook steps just registered count as libvirt's too.
    const now = new Set(listInstances(this.store, { host: this.store.nodeId }).map((i) => i.uuid));
    for (const d of listed)
      if (now.has(d.uuid) && !instances.has(d.uuid)) plan.track.push({ uuid: d.uuid, name: d.name });
    for (const t of plan.track) trackDomain(this.store, t.uuid, t.name);
    for (const u of plan.untrack) untrackDomain(this.store, u);
    for (const u of plan.missing) markDomainMissing(this.store, u, this.#now());
    for (const u of plan.delete) {
      try {
        await call("DELETE", `/v1/instances/${u}`);
        this.o.log.info("libvirt domain undefined: instance deleted", { uuid: u });
        this.#deleted.inc();
        untrackDomain(this.store, u);
      } catch (err) {
        alarms.push(`libvirt: deleting the instance of undefined domain ${u}: ${(err as Error).message}`);
      }
    }
    this.#alarmGauge.set(alarms.length);
    this.alarms =
      alarms.length > MAX_ALARMS
        ? [...alarms.slice(0, MAX_ALARMS), `libvirt: and ${alarms.length - MAX_ALARMS} more`]
        : alarms;
  }

  async #list(): Promise<ListedDomain[]> {
    const all = (await this.#virsh(["list", "--all", "--uuid"]))
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean);
    const running = new Set(
      (await this.#virsh(["list", "--uuid"]))
        .split("\n")
        .map((l) => l.trim())
        .filter(Boolean),
    );
    const out: ListedDomain[] = [];
    for (const uuid of all) {
      // A domain undefined between the two calls is simply not listed this time.
      const xml = await this.#virsh(["dumpxml", uuid]).catch(() => null);
      if (xml === null) continue;
      const name = /<name>([^<]{1,255})<\/name>/.exec(xml)?.[1] ?? uuid;
      out.push({ uuid: uuid.toLowerCase(), name, running: running.has(uuid) || !(await this.#shutOff(uuid)), xml });
    }
    return out;
  }

  /**
   * Whether a domain missing from `virsh list` really is shut off. Right after libvirtd
   * restarts, a domain it is still reconnecting to can be missing from the list for a moment;
   * withdrawing its port then would cut a running guest off. A failed query aborts the pass.
   */
  async #shutOff(uuid: string): Promise<boolean> {
    return /^(shut off|crashed)\b/.test((await this.#virsh(["domstate", uuid])).trim());
  }

  #caller(): ApiCaller {
    return async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const res = await this.o.fetch(
        new Request(`http://netlet${path}`, {
          method,
          headers: body === undefined ? {} : { "content-type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        }),
      );
      const data = (await res.json().catch(() => ({}))) as Record<string, unknown>;
      if (!res.ok) throw new AgentRefused(`${String(data.error ?? res.statusText)}`, res.status);
      return data as T;
    };
  }
}
