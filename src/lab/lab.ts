/**
 * `netlet lab`: a multi_host cloud in network namespaces on one machine. Every object it makes
 * carries the prefix `nlab-` and is recorded in $NETLET_LAB_DIR/state.json, so `lab down` can
 * remove everything — also after `lab up` crashed half-way (it then sweeps by prefix; QEMU
 * guests run in their host's namespace, so the sweep stops them too).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stopQemus } from "./qemu-vms.ts";
import type { LabState } from "./model.ts";

export type { CrossHostCheck, LabHost, LabState, LabUpOptions, LabVm } from "./model.ts";

export const LAB_PREFIX = process.env.NETLET_LAB_PREFIX ?? "nlab-";
export const LAB_DIR = process.env.NETLET_LAB_DIR ?? "/run/netlet-lab";

export function sh(
  argv: string[],
  opts: { check?: boolean; input?: string } = {},
): { code: number; out: string; err: string } {
  const p = Bun.spawnSync(argv, {
    stdin: opts.input === undefined ? "ignore" : Buffer.from(opts.input),
    stdout: "pipe",
    stderr: "pipe",
  });
  const r = { code: p.exitCode ?? -1, out: p.stdout.toString(), err: p.stderr.toString() };
  if (opts.check !== false && r.code !== 0)
    throw new Error(`${argv.join(" ")}: ${r.err.trim() || r.out.trim() || `exit ${r.code}`}`);
  return r;
}

export const ns = (name: string, argv: string[], opts: { check?: boolean; input?: string } = {}) =>
  sh(["ip", "netns", "exec", name, ...argv], opts);

export function loadState(): LabState | null {
  const f = join(LAB_DIR, "state.json");
  if (!existsSync(f)) return null;
  try {
    return JSON.parse(readFileSync(f, "utf8")) as LabState;
  } catch {
    return null;
  }
}

export function saveState(s: LabState): void {
  mkdirSync(LAB_DIR, { recursive: true });
  writeFileSync(join(LAB_DIR, "state.json"), JSON.stringify(s, null, 2));
}

export function labNamespaces(): string[] {
  return sh(["ip", "netns", "list"], { check: false })
    .out.split("\n")
    .map((l) => l.split(" ")[0])
    .filter((n) => n.startsWith(LAB_PREFIX));
}

/** Remove every lab process and namespace, known or left behind by a crash. */
export async function labDown(say: (s: string) => void = () => {}): Promise<void> {
  const state = loadState();
  // QEMUs first, while the agents can still take their ports back.
  await stopQemus(state?.vms ?? []);
  for (const h of state?.hosts ?? []) {
    if (h.pid) {
      try {
        process.kill(h.pid, "SIGTERM");
      } catch {
        /* already gone */
      }
    }
  }
  if (state?.hosts.some((h) => h.pid)) await Bun.sleep(300);
  for (const n of labNamespaces()) {
    const pids = sh(["ip", "netns", "pids", n], { check: false }).out.split(/\s+/).filter(Boolean);
    for (const pid of pids) sh(["kill", "-9", pid], { check: false });
    sh(["ip", "netns", "del", n], { check: false });
    say(`removed namespace ${n}`);
  }
  rmSync(LAB_DIR, { recursive: true, force: true });
}
