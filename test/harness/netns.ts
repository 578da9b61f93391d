/**
 * Network-namespace test harness. Every helper here creates uniquely named namespaces and links
 * and registers them for deletion, so a test that fails half-way still leaves nothing behind
 * when it calls `lab.cleanup()` (use it in afterEach/afterAll).
 *
 * Namespace tests must fail, not skip, when CI=true and namespaces are unavailable:
 * `requireNetns()` returns false outside CI (the caller then skips with a stated reason) and
 * throws under CI.
 */
import { spawnSync, type Subprocess } from "bun";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";

let counter = 0;

/**
 * Put before every namespace name, so developers sharing one machine can keep their test
 * namespaces apart (and find leftovers by name).
 */
const NS_PREFIX = process.env.NETLET_TEST_NS_PREFIX ?? "";

/** A short unique suffix: pid + counter, so parallel runs never collide (names ≤ 15 chars). */
export function uniqueName(prefix: string): string {
  counter += 1;
  const tag = `${(process.pid % 46656).toString(36)}${counter.toString(36)}`;
  return `${prefix}${tag}`.slice(0, 15);
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command synchronously; throws with its stderr when it fails and `check` is set. */
export function run(
  argv: string[],
  opts: { check?: boolean; input?: string; env?: Record<string, string> } = {},
): RunResult {
  const p = spawnSync(argv, {
    stdin: opts.input === undefined ? "ignore" : Buffer.from(opts.input),
    env: opts.env ? { ...process.env, ...opts.env } : process.env,
  });
  const res = { code: p.exitCode ?? -1, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
  if (opts.check !== false && res.code !== 0) {
    throw new Error(`${argv.join(" ")} exited ${res.code}: ${res.stderr.trim() || res.stdout.trim()}`);
  }
  return res;
}

/** Run a command inside a namespace. */
export function nsRun(
  ns: string,
  argv: string[],
  opts: { check?: boolean; input?: string; env?: Record<string, string> } = {},
): RunResult {
  return run(["ip", "netns", "exec", ns, ...argv], opts);
}

let netnsChecked: boolean | undefined;

/** True when this process can create network namespaces (root + iproute2). */
export function netnsAvailable(): boolean {
  if (netnsChecked !== undefined) return netnsChecked;
  const probe = uniqueName(`${NS_PREFIX}nlprobe`);
  const ok = run(["ip", "netns", "add", probe], { check: false }).code === 0;
  if (ok) run(["ip", "netns", "del", probe], { check: false });
  netnsChecked = ok;
  return ok;
}

/**
 * Gate for namespace tests: under CI=true a missing namespace facility is a failure, elsewhere
 * the test is skipped (the caller passes the result to `describe.skipIf(!…)`).
 */
export function requireNetns(): boolean {
  const ok = netnsAvailable();
  if (!ok && process.env.CI === "true") {
    throw new Error("network namespaces are required under CI=true but `ip netns add` failed (need root and iproute2)");
  }
  return ok;
}

export interface VmOptions {
  /** Bridge inside the host namespace to attach the VM to. */
  bridge: string;
  mac: string;
  /** Interface name inside the VM namespace (default eth0). */
  ifname?: string;
  mtu?: number;
  /** Name prefix of the VM's namespace (default nlvm). */
  prefix?: string;
}

export interface Vm {
  ns: string;
  ifname: string;
  /** Host-side veth end, enslaved to the bridge. */
  hostIf: string;
  mac: string;
}

/** A set of namespaces and processes owned by one test, all removed by `cleanup()`. */
export class Lab {
  readonly namespaces: string[] = [];
  readonly procs: Subprocess[] = [];
  private readonly logs = new Map<Subprocess, string>();
  private logsAt: string | undefined;
  private readonly deferred: (() => void)[] = [];

  /** A new empty namespace with loopback up. */
  addNamespace(prefix = "nl"): string {
    const ns = uniqueName(`${NS_PREFIX}${prefix}`);
    run(["ip", "netns", "add", ns]);
    this.namespaces.push(ns);
    nsRun(ns, ["ip", "link", "set", "lo", "up"]);
    return ns;
  }

  /** A bridge in `ns` (forward delay 0, STP off) with optional addresses. */
  addBridge(ns: string, name: string, addrs: string[] = []): void {
    nsRun(ns, ["ip", "link", "add", name, "type", "bridge", "forward_delay", "0", "stp_state", "0"]);
    for (const a of addrs) nsRun(ns, ["ip", "addr", "add", a, "dev", name]);
    nsRun(ns, ["ip", "link", "set", name, "up"]);
  }

  /** A VM namespace attached to `bridge` in `hostNs` by a veth pair with the given MAC. */
  addVm(hostNs: string, opts: VmOptions): Vm {
    const ns = this.addNamespace(opts.prefix ?? "nlvm");
    const ifname = opts.ifname ?? "eth0";
    const hostIf = uniqueName("nlv");
    const tmp = uniqueName("nlt");
    nsRun(hostNs, ["ip", "link", "add", hostIf, "type", "veth", "peer", "name", tmp]);
    nsRun(hostNs, ["ip", "link", "set", tmp, "netns", ns]);
    nsRun(ns, ["ip", "link", "set", tmp, "name", ifname]);
    nsRun(ns, ["ip", "link", "set", ifname, "address", opts.mac]);
    if (opts.mtu) nsRun(ns, ["ip", "link", "set", ifname, "mtu", String(opts.mtu)]);
    nsRun(hostNs, ["ip", "link", "set", hostIf, "master", opts.bridge]);
    nsRun(hostNs, ["ip", "link", "set", hostIf, "up"]);
    nsRun(ns, ["ip", "link", "set", ifname, "up"]);
    return { ns, ifname, hostIf, mac: opts.mac };
  }

  /** Connect two namespaces with a veth pair; returns the two interface names. */
  link(nsA: string, nsB: string, opts: { addrA?: string; addrB?: string } = {}): [string, string] {
    const a = uniqueName("nla");
    const b = uniqueName("nlb");
    nsRun(nsA, ["ip", "link", "add", a, "type", "veth", "peer", "name", b]);
    nsRun(nsA, ["ip", "link", "set", b, "netns", nsB]);
    if (opts.addrA) nsRun(nsA, ["ip", "addr", "add", opts.addrA, "dev", a]);
    if (opts.addrB) nsRun(nsB, ["ip", "addr", "add", opts.addrB, "dev", b]);
    nsRun(nsA, ["ip", "link", "set", a, "up"]);
    nsRun(nsB, ["ip", "link", "set", b, "up"]);
    return [a, b];
  }

  /**
   * Start a long-running process inside `ns`; it is killed by cleanup(). Its stderr goes to a log
   * file (read it with `logOf`) unless the caller asks for a pipe and reads it: an undrained pipe
   * fills at 64 kB and a chatty process then blocks on its next log line.
   */
  spawn(
    ns: string,
    argv: string[],
    opts: { env?: Record<string, string>; stdout?: "pipe" | "ignore" | "inherit"; stderr?: "pipe" | "log" } = {},
  ): Subprocess {
    const log = opts.stderr === "pipe" ? null : join(this.logDir(), `${this.procs.length}-${basename(argv[0])}.log`);
    const p = Bun.spawn(["ip", "netns", "exec", ns, ...argv], {
      stdin: "ignore",
      stdout: opts.stdout ?? "pipe",
      stderr: log ? Bun.file(log) : "pipe",
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
    });
    this.procs.push(p);
    if (log) this.logs.set(p, log);
    return p;
  }

  /** Run `fn` at cleanup, once the processes are stopped and the namespaces deleted (temporary files). */
  defer(fn: () => void): void {
    this.deferred.push(fn);
  }

  /** The last `bytes` of what a process started by `spawn` wrote to stderr (for failure messages). */
  logOf(p: Subprocess, bytes = 4000): string {
    const path = this.logs.get(p);
    if (!path || !existsSync(path)) return "";
    const text = readFileSync(path, "utf8");
    return text.slice(-bytes);
  }

  private logDir(): string {
    this.logsAt ??= mkdtempSync(join(tmpdir(), "netlet-lab-"));
    return this.logsAt;
  }

  /**
   * Stop every process (SIGTERM, then SIGKILL) and delete every namespace, in reverse order; then
   * run what was deferred.
   */
  async cleanup(): Promise<void> {
    for (const p of this.procs.splice(0).reverse()) await stopProcess(p);
    for (const ns of this.namespaces.splice(0).reverse()) {
      // Kill anything still running inside (clients started with nsRun in the background).
      const pids = run(["ip", "netns", "pids", ns], { check: false }).stdout.split(/\s+/).filter(Boolean);
      for (const pid of pids) run(["kill", "-9", pid], { check: false });
      run(["ip", "netns", "del", ns], { check: false });
    }
    for (const fn of this.deferred.splice(0).reverse()) fn();
    if (this.logsAt) rmSync(this.logsAt, { recursive: true, force: true });
    this.logs.clear();
  }
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL. */
export async function stopProcess(p: Subprocess, graceMs = 3000): Promise<void> {
  if (p.exitCode !== null || p.killed) return;
  p.kill("SIGTERM");
  const done = await Promise.race([p.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
  if (!done) {
    p.kill("SIGKILL");
    await p.exited;
  }
}

/** Poll `check` until it returns a truthy value or `timeoutMs` passes; returns the last value. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 10000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await check();
  while (!last && Date.now() < deadline) {
    await Bun.sleep(intervalMs);
    last = await check();
  }
  return last;
}
