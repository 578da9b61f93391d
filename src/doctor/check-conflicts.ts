/**
 * Other daemons on netlet's bridges: a second DHCP server (dnsmasq, as nova-network and libvirt
 * run it) hands out conflicting leases; a second radvd advertises other prefixes; a running
 * nova-network rewrites the same bridges and firewall.
 */
import { basename } from "node:path";
import type { CheckResult, DoctorTarget, HostFacts, ProcessFact } from "./types.ts";

export interface DaemonView {
  pid: number;
  /** Interfaces it is limited to; empty = all. */
  interfaces: string[];
  except: string[];
  /** dnsmasq: a dhcp-range is configured (it is a DHCP server, not only DNS). */
  dhcp: boolean;
}

const program = (p: ProcessFact) => basename(p.argv[0] ?? "");
export const isDnsmasq = (p: ProcessFact) => program(p) === "dnsmasq";
export const isRadvd = (p: ProcessFact) => program(p) === "radvd";
export const isNovaNetwork = (p: ProcessFact) => p.argv.slice(0, 3).some((a) => basename(a) === "nova-network");
/** DHCP servers whose interfaces the doctor does not parse (ISC dhcpd, Kea). */
export const isOtherDhcp = (p: ProcessFact) => ["dhcpd", "kea-dhcp4"].includes(program(p));

/** Values of an option in argv: --long=V, --long V, -sV, -s V. */
export function optionValues(argv: string[], long: string, short: string): string[] {
  const out: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith(`--${long}=`)) out.push(a.slice(long.length + 3));
    else if (a === `--${long}` || a === `-${short}`) {
      if (i + 1 < argv.length && !argv[i + 1].startsWith("-")) out.push(argv[++i]);
      else out.push("");
    } else if (a.startsWith(`-${short}`) && !a.startsWith("--")) out.push(a.slice(2));
  }
  return out;
}

/** `key=value` lines of a dnsmasq configuration file. */
export function confValues(text: string | null, key: string): string[] {
  if (!text) return [];
  return text
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim())
    .filter((l) => l.startsWith(`${key}=`) || l === key)
    .map((l) => l.slice(key.length + 1));
}

const splitList = (vals: string[]) =>
  vals
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter(Boolean);

/** The files a daemon reads: the ones it names, else its default. */
export function configFilesOf(p: ProcessFact): string[] {
  if (isDnsmasq(p)) {
    const named = optionValues(p.argv, "conf-file", "C");
    return named.length ? named.filter(Boolean) : ["/etc/dnsmasq.conf"];
  }
  if (isRadvd(p)) {
    const named = optionValues(p.argv, "config", "C").filter(Boolean);
    return named.length ? named : ["/etc/radvd.conf"];
  }
  return [];
}

export function parseDnsmasq(p: ProcessFact): DaemonView {
  const files = Object.values(p.files);
  const all = (long: string, short: string) => [
    ...optionValues(p.argv, long, short),
    ...files.flatMap((t) => confValues(t, long)),
  ];
  return {
    pid: p.pid,
    interfaces: splitList(all("interface", "i")),
    except: splitList(all("except-interface", "I")),
    dhcp: all("dhcp-range", "F").length > 0,
  };
}

export function parseRadvd(p: ProcessFact): DaemonView {
  const interfaces: string[] = [];
  for (const text of Object.values(p.files)) {
    for (const m of (text ?? "").replace(/#.*/g, "").matchAll(/(?:^|[;}\s])interface\s+([^\s{]+)/g))
      interfaces.push(m[1]);
  }
  return { pid: p.pid, interfaces, except: [], dhcp: false };
}

/** dnsmasq accepts a trailing "*" as a wildcard in interface names. */
function matches(pattern: string, iface: string): boolean {
  return pattern.endsWith("*") ? iface.startsWith(pattern.slice(0, -1)) : pattern === iface;
}

/** The target bridges a daemon serves (all of them when it is not limited to interfaces). */
export function servedBy(d: DaemonView, bridges: string[]): string[] {
  return bridges.filter(
    (b) =>
      (d.interfaces.length === 0 || d.interfaces.some((p) => matches(p, b))) && !d.except.some((p) => matches(p, b)),
  );
}

const STOP_HINT =
  "stop what starts it (nova-network: systemctl stop nova-network; a libvirt network: virsh net-destroy NAME and virsh net-autostart --disable NAME; else systemctl disable --now dnsmasq)";

function dnsmasqChecks(f: HostFacts, t: DoctorTarget): CheckResult[] {
  const out: CheckResult[] = [];
  for (const d of f.processes
    .filter(isDnsmasq)
    .map(parseDnsmasq)
    .filter((x) => x.dhcp)) {
    const hit = servedBy(d, t.bridges);
    if (hit.length) {
      out.push({
        id: "dhcp-conflict",
        status: "fail",
        summary: `dnsmasq (pid ${d.pid}) answers DHCP on ${hit.join(", ")}, which netlet serves: two DHCP servers on one bridge hand out conflicting leases`,
        fix: `kill ${d.pid} and ${STOP_HINT}`,
      });
    } else if (d.interfaces.length === 0 && t.bridges.length === 0) {
      out.push({
        id: "dhcp-conflict",
        status: "warn",
        summary: `dnsmasq (pid ${d.pid}) answers DHCP on every interface, which will include netlet's bridges`,
        fix: `limit it with interface=/except-interface=, or ${STOP_HINT}`,
      });
    }
  }
  return out;
}

function radvdChecks(f: HostFacts, t: DoctorTarget): CheckResult[] {
  const out: CheckResult[] = [];
  for (const p of f.processes.filter(isRadvd)) {
    const unreadable = Object.entries(p.files)
      .filter(([, text]) => text === null)
      .map(([path]) => path);
    // radvd serves only the interfaces its configuration names.
    const view = parseRadvd(p);
    const hit = view.interfaces.length ? servedBy(view, t.bridges) : [];
    if (hit.length) {
      out.push({
        id: "ra-conflict",
        status: "fail",
        summary: `radvd (pid ${p.pid}) advertises on ${hit.join(", ")}, which netlet serves: instances would learn a second router and prefix`,
        fix: `remove ${hit.join(", ")} from its configuration (${configFilesOf(p).join(", ")}) and reload it, or systemctl disable --now radvd`,
      });
    } else if (unreadable.length) {
      out.push({
        id: "ra-conflict",
        status: "warn",
        summary: `radvd (pid ${p.pid}) runs, but its configuration ${unreadable.join(", ")} cannot be read to see which interfaces it serves`,
        fix: "run netlet doctor as root, or check the file for netlet's bridges",
      });
    }
  }
  return out;
}

export function checkConflicts(f: HostFacts, t: DoctorTarget): CheckResult[] {
  const out: CheckResult[] = [];
  for (const p of f.processes.filter(isNovaNetwork)) {
    out.push({
      id: "nova-network",
      status: "fail",
      summary: `nova-network (pid ${p.pid}) is running: it rewrites the same bridges, dnsmasq and firewall rules`,
      fix: "systemctl disable --now nova-network (see docs/migrating-from-nova-network.md)",
    });
  }
  out.push(...dnsmasqChecks(f, t), ...radvdChecks(f, t));
  for (const p of f.processes.filter(isOtherDhcp)) {
    out.push({
      id: "dhcp-conflict",
      status: "warn",
      summary: `${program(p)} (pid ${p.pid}) is a DHCP server; make sure it does not listen on ${t.bridges.join(", ") || "netlet's bridges"}`,
      fix: `check its interface list (${p.argv.join(" ").slice(0, 120)}) or stop it`,
    });
  }
  if (!out.length) {
    const where = t.bridges.length ? t.bridges.join(", ") : "this host";
    out.push({ id: "conflicts", status: "ok", summary: `no dnsmasq DHCP, radvd or nova-network on ${where}` });
  }
  return out;
}
