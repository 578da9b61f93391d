/**
 * A real agent in a namespace of its own, driven through the CLI over its admin socket: the
 * set-up the single-host integration tests share. The namespace, the agent's processes and the
 * temporary directory are all registered with the test's Lab, so `lab.cleanup()` in afterAll
 * removes them even when start-up fails half-way.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { netletBinary } from "./binary.ts";
import { type Lab, nsRun, type RunResult, run, stopProcess, waitFor } from "./netns.ts";

export interface NamespacedAgentOptions {
  /** Namespace name prefix (the test's namespaces prefix). */
  prefix: string;
  /** Node name (`host = …`); none when omitted. */
  name?: string;
  /** Further [DEFAULT] lines of netlet.conf; `state_path` is the test's directory. */
  conf?: string[];
  /** The configuration file's name inside the directory (default netlet.conf). */
  confName?: string;
  /** Where the agent learns its admin socket: `--socket` (default) or `admin_socket` in the file. */
  socketFrom?: "flag" | "config";
  /** Bridges to create in the namespace (with addresses) before the agent starts. */
  bridges?: { name: string; addrs?: string[] }[];
  /** Veth pairs inside the namespace, both ends up, the first with `addrs`. */
  veths?: { name: string; peer: string; addrs?: string[] }[];
  /** Further set-up in the namespace before the agent starts (routes, VMs, files). */
  setup?: (ns: string, dir: string) => void;
  /** Where the agent's stderr goes: a log file (default) or a pipe the test reads. */
  stderr?: "log" | "pipe";
  /** Start the agent now (default); otherwise the test calls `start()` itself. */
  start?: boolean;
}

export interface NamespacedAgent {
  ns: string;
  dir: string;
  socket: string;
  conf: string;
  bin: string;
  /** The running (or last) agent process; null before the first start. */
  readonly proc: Subprocess | null;
  /** The CLI against this agent's socket (never throws: read `code`). */
  cli(...args: string[]): RunResult;
  /** GET `path` from the agent's ops server inside the namespace: the body, then a line with the status code. */
  http(path: string, port?: number): string;
  /** (Re)write netlet.conf: the fixed lines (host, state_path, admin_socket) then `lines`. */
  writeConf(lines: string[]): void;
  /** Start the agent; resolves once it answers `status`, throws with its log when it does not. */
  start(): Promise<Subprocess>;
  /** Stop the agent (SIGTERM, then SIGKILL after a grace period). */
  stop(): Promise<void>;
  /** Stop the agent if it runs, then start it again. */
  restart(): Promise<Subprocess>;
  /** What the agent wrote to stderr so far (log mode only). */
  log(): string;
}

const START_MS = 10_000;

export async function startNamespacedAgent(lab: Lab, o: NamespacedAgentOptions): Promise<NamespacedAgent> {
  const bin = netletBinary();
  const dir = mkdtempSync(join(tmpdir(), `netlet-${o.prefix}-`));
  lab.defer(() => rmSync(dir, { recursive: true, force: true }));
  const ns = lab.addNamespace(o.prefix);
  const socket = join(dir, "netlet.sock");
  const conf = join(dir, o.confName ?? "netlet.conf");
  for (const b of o.bridges ?? []) lab.addBridge(ns, b.name, b.addrs);
  for (const v of o.veths ?? []) {
    nsRun(ns, ["ip", "link", "add", v.name, "type", "veth", "peer", "name", v.peer]);
    for (const a of v.addrs ?? []) nsRun(ns, ["ip", "addr", "add", a, "dev", v.name]);
    nsRun(ns, ["ip", "link", "set", v.peer, "up"]);
    nsRun(ns, ["ip", "link", "set", v.name, "up"]);
  }
  o.setup?.(ns, dir);
  let proc: Subprocess | null = null;
  const cli = (...args: string[]) => run([bin, ...args, "--socket", socket], { check: false });
  const writeConf = (lines: string[]) => {
    const fixed = [
      ...(o.name ? [`host = ${o.name}`] : []),
      `state_path = ${dir}/state`,
      ...(o.socketFrom === "config" ? [`admin_socket = ${socket}`] : []),
    ];
    writeFileSync(conf, `[DEFAULT]\n${[...fixed, ...lines].join("\n")}\n`);
  };
  if (o.conf) writeConf(o.conf);
  const agent: NamespacedAgent = {
    ns,
    dir,
    socket,
    conf,
    bin,
    get proc() {
      return proc;
    },
    cli,
    http: (path, port = 9775) =>
      nsRun(ns, ["curl", "-s", "-w", "\n%{http_code}", `http://127.0.0.1:${port}${path}`], { check: false }).stdout,
    writeConf,
    async start() {
      const argv = [bin, "agent", "--config", conf, ...(o.socketFrom === "config" ? [] : ["--socket", socket])];
      // stdout is not read: a pipe nobody drains would block a chatty agent.
      const p = lab.spawn(ns, argv, { stdout: "ignore", stderr: o.stderr ?? "log" });
      proc = p;
      const up = await waitFor(() => p.exitCode !== null || cli("status").code === 0, START_MS);
      if (!up || p.exitCode !== null) {
        const why = p.exitCode !== null ? `exited ${p.exitCode}` : `did not answer status within ${START_MS} ms`;
        throw new Error(`agent in ${ns} ${why}: ${lab.logOf(p)}`);
      }
      return p;
    },
    async stop() {
      if (proc) await stopProcess(proc);
    },
    async restart() {
      await agent.stop();
      return agent.start();
    },
    log: () => (proc ? lab.logOf(proc, Number.POSITIVE_INFINITY) : ""),
  };
  if (o.start !== false) await agent.start();
  return agent;
}
