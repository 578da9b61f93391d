/**
 * The I/O shell of `netlet doctor`: reads /proc, /sys and runs the few commands the checks
 * need, and nothing else. The only change it may make to the host is a temporary network
 * namespace, deleted before it returns, to try creating a link kind that no module list shows.
 */
import { accessSync, constants, existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { dirname } from "node:path";
import { configFilesOf, isDnsmasq, isNovaNetwork, isOtherDhcp, isRadvd } from "./check-conflicts.ts";
import {
  sysctlPath,
  wantedSysctls,
  type CommandFact,
  type DoctorTarget,
  type HostFacts,
  type KindFact,
  type PathFact,
  type ProcessFact,
} from "./types.ts";
import { spawnExec } from "../sys/exec.ts";

/** Configuration files larger than this are read only up to it. */
const MAX_FILE = 256 * 1024;

const exec = spawnExec();

async function run(argv: string[]): Promise<CommandFact | null> {
  if (!Bun.which(argv[0])) return null;
  return exec(argv);
}

function readText(path: string, max = MAX_FILE): string | null {
  try {
    return readFileSync(path).subarray(0, max).toString("utf8");
  } catch {
    return null;
  }
}

function readSysctls(keys: string[]): Record<string, string | null> {
  return Object.fromEntries(keys.map((k) => [k, readText(sysctlPath(k))?.trim() ?? null]));
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export function pathFact(path: string): PathFact {
  if (existsSync(path)) return { path, exists: true, writable: writable(path) };
  let parent = dirname(path);
  while (!existsSync(parent) && parent !== "/") parent = dirname(parent);
  return { path, exists: false, writable: false, parent, parentWritable: writable(parent) };
}

/** dnsmasq, radvd, other DHCP servers and nova-network processes in this process's network namespace. */
export function scanProcesses(proc = "/proc"): ProcessFact[] {
  let self: string | null = null;
  try {
    self = readlinkSync(`${proc}/self/ns/net`);
  } catch {
    // No namespace links (unusual /proc): compare nothing, keep every match.
  }
  const out: ProcessFact[] = [];
  for (const pid of readdirSync(proc).filter((d) => /^\d+$/.test(d))) {
    const raw = readText(`${proc}/${pid}/cmdline`, 64 * 1024);
    if (!raw) continue;
    const p: ProcessFact = {
      pid: Number(pid),
      argv: raw.split("\0").filter((a, i, all) => a !== "" || i < all.length - 1),
      files: {},
    };
    if (!isDnsmasq(p) && !isRadvd(p) && !isNovaNetwork(p) && !isOtherDhcp(p)) continue;
    try {
      if (self && readlinkSync(`${proc}/${pid}/ns/net`) !== self) continue;
    } catch {
      continue; // exited meanwhile
    }
    for (const f of configFilesOf(p)) p.files[f] = readText(f);
    out.push(p);
  }
  return out;
}

function moduleState(mod: string): KindFact | null {
  if (existsSync(`/sys/module/${mod}`)) return { state: "loaded" };
  if (
    readText("/proc/modules")
      ?.split("\n")
      .some((l) => l.startsWith(`${mod} `))
  )
    return { state: "loaded" };
  const release = readText("/proc/sys/kernel/osrelease")?.trim();
  const builtin = release ? readText(`/lib/modules/${release}/modules.builtin`, 4 * 1024 * 1024) : null;
  if (builtin?.split("\n").some((l) => l.endsWith(`/${mod}.ko`))) return { state: "builtin" };
  return null;
}

const PROBE_ARGS: Record<"bridge" | "veth" | "vxlan", string[]> = {
  bridge: ["type", "bridge"],
  veth: ["type", "veth", "peer", "name", "nldoc1"],
  vxlan: ["type", "vxlan", "id", "42", "dstport", "4789"],
};

/** Tries each kind in a temporary namespace, which is always deleted. */
async function probeKinds(kinds: ("bridge" | "veth" | "vxlan")[]): Promise<Record<string, KindFact>> {
  const out: Record<string, KindFact> = {};
  const ns = `netlet-doctor-${process.pid}`;
  const add = await run(["ip", "netns", "add", ns]);
  if (!add || add.code !== 0) {
    for (const k of kinds)
      out[k] = {
        state: "unknown",
        detail: `no module list shows it and a test namespace could not be created: ${add?.stderr.trim() || "ip not installed"}`,
      };
    return out;
  }
  try {
    for (const k of kinds) {
      const r = await run(["ip", "-n", ns, "link", "add", "nldoc0", ...PROBE_ARGS[k]]);
      out[k] = r?.code === 0 ? { state: "created" } : { state: "missing", detail: r?.stderr.trim().split("\n")[0] };
      await run(["ip", "-n", ns, "link", "del", "nldoc0"]);
    }
  } finally {
    await run(["ip", "netns", "del", ns]);
  }
  return out;
}

async function kindFacts(): Promise<HostFacts["kinds"]> {
  const kinds = ["bridge", "veth", "vxlan"] as const;
  const known: Record<string, KindFact | null> = {};
  for (const k of kinds) known[k] = moduleState(k);
  for (const k of kinds) {
    if (known[k]) continue;
    const modinfo = await run(["modinfo", "-n", k]);
    if (modinfo?.code === 0) known[k] = { state: "module" };
  }
  const unknown = kinds.filter((k) => !known[k]);
  const probed = unknown.length ? await probeKinds(unknown) : {};
  return Object.fromEntries(kinds.map((k) => [k, known[k] ?? probed[k]])) as HostFacts["kinds"];
}

/** Link names from `ip -j link show` (right in any namespace), else /sys/class/net. */
function interfaces(ipJson: CommandFact | null): string[] {
  try {
    if (ipJson?.code === 0) return (JSON.parse(ipJson.stdout) as { ifname: string }[]).map((l) => l.ifname);
  } catch {
    // fall through
  }
  try {
    return readdirSync("/sys/class/net");
  } catch {
    return [];
  }
}

/** Reads everything the checks need for `target`. */
export async function gatherFacts(t: DoctorTarget): Promise<HostFacts> {
  const [nftVersion, nftList, ipVersion, ipJson, kinds] = await Promise.all([
    run(["nft", "--version"]),
    run(["nft", "list", "tables"]),
    run(["ip", "-V"]),
    run(["ip", "-j", "link", "show"]),
    kindFacts(),
  ]);
  const tools = Object.fromEntries(
    ["bridge", "sysctl", "conntrack", "arping", "iptables-restore", "ip6tables-restore"].map((x) => [
      x,
      Bun.which(x) !== null,
    ]),
  );
  return {
    nftVersion,
    nftList,
    ipVersion,
    ipJson,
    tools,
    kinds,
    sysctl: readSysctls(wantedSysctls(t)),
    interfaces: interfaces(ipJson),
    processes: scanProcesses(),
    statePath: pathFact(t.statePath),
    socketDir: pathFact(dirname(t.adminSocket)),
  };
}
