/**
 * `netlet lab`: a multi_host cloud in network namespaces on one machine. Every object it makes
 * carries the prefix `nlab-` and is recorded in $NETLET_LAB_DIR/state.json, so `lab down` can
 * remove everything — also after `lab up` crashed half-way (it then sweeps by prefix).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const LAB_PREFIX = process.env.NETLET_LAB_PREFIX ?? "nlab-";
export const LAB_DIR = process.env.NETLET_LAB_DIR ?? "/run/netlet-lab";

/** What `netlet lab up` builds. */
export interface LabUpOptions {
  hosts: number;
  vms: number;
  ipv6: boolean;
  vxlan: boolean;
  /** Every host uses the network's gateway address (share_dhcp_address). */
  shareDhcpAddress: boolean;
}

export interface LabHost {
  name: string;
  ns: string;
  underlayIp: string;
  socket: string;
  config: string;
  stateDir: string;
  pid: number | null;
}

export interface LabVm {
  name: string;
  ns: string;
  host: string;
  mac: string;
  /** Host-side end of the VM's veth, declared to netlet as the VIF's port. */
  port?: string;
  fixedIp: string | null;
  ipv6: string | null;
  floatingIp: string | null;
  /** Lease state as the VM's DHCP client saw it: the address it got, or null. */
  leased: string | null;
  /** The DHCP server identifier of that lease (its host's address on the bridge). */
  dhcpServer?: string | null;
  /** IPv6 default routers the VM learned from RAs (link-local addresses). */
  routers?: string[];
  /** The instance-id the VM read from 169.254.169.254, or null. */
  metadata: string | null;
}

/** One cross-host reachability check: a VM pinged another host's VM. */
export interface CrossHostCheck {
  from: string;
  to: string;
  address: string;
  ok: boolean;
}

export interface LabState {
  /** How the hosts' bridges share one segment: flat_interface on a switch, or VXLAN. */
  segment?: "flat" | "vxlan";
  /** The netlet command the lab runs (binary path, or bun and the entry script). */
  binary?: string;
  hosts: LabHost[];
  vms: LabVm[];
  underlayNs: string;
  internetNs: string | null;
  /** The internet namespace got an answer from the floating IP. */
  floatingReachable: boolean;
  crossHost?: CrossHostCheck[];
}

export function sh(argv: string[], opts: { check?: boolean; input?: string } = {}): { code: number; out: string; err: string } {
  const p = Bun.spawnSync(argv, { stdin: opts.input === undefined ? "ignore" : Buffer.from(opts.input), stdout: "pipe", stderr: "pipe" });
  const r = { code: p.exitCode ?? -1, out: p.stdout.toString(), err: p.stderr.toString() };
  if (opts.check !== false && r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.err.trim() || r.out.trim() || `exit ${r.code}`}`);
  return r;
}

export const ns = (name: string, argv: string[], opts: { check?: boolean; input?: string } = {}) => sh(["ip", "netns", "exec", name, ...argv], opts);

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
  return sh(["ip", "netns", "list"], { check: false }).out.split("\n").map((l) => l.split(" ")[0]).filter((n) => n.startsWith(LAB_PREFIX));
}

/** Remove every lab process and namespace, known or left behind by a crash. */
export async function labDown(say: (s: string) => void = () => {}): Promise<void> {
  const state = loadState();
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
