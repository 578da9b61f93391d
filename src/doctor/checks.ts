/** Every doctor check in display order, the summary and the text rendering. */
import { checkConflicts } from "./check-conflicts.ts";
import { checkDnsPort } from "./check-dns.ts";
import {
  checkBridgeFilter,
  checkIpForward,
  checkIpv6Forwarding,
  checkPublicInterface,
  checkRpFilter,
} from "./check-sysctl.ts";
import { checkIproute2, checkKernelKinds, checkNftables } from "./check-tools.ts";
import type { CheckResult, DoctorTarget, HostFacts, PathFact, Status } from "./types.ts";

/** A directory the agent writes: fine if writable, or absent under a writable parent (it is created). */
export function checkWritableDir(id: string, what: string, p: PathFact): CheckResult {
  if (p.exists && p.writable) return { id, status: "ok", summary: `${what} ${p.path} is writable` };
  if (!p.exists && p.parentWritable)
    return {
      id,
      status: "ok",
      summary: `${what} ${p.path} does not exist yet; the agent creates it under ${p.parent}`,
    };
  const where = p.exists ? p.path : `${p.parent ?? "/"} (${p.path} does not exist)`;
  return {
    id,
    status: "fail",
    summary: `${what} ${p.path} is not writable: ${where} refuses writes`,
    fix: `mkdir -p ${p.path} and run the agent as root (the systemd unit does), or point the option at a writable directory`,
  };
}

export function runChecks(f: HostFacts, t: DoctorTarget): CheckResult[] {
  return [
    ...checkNftables(f, t),
    ...checkIproute2(f, t),
    ...checkKernelKinds(f),
    checkIpForward(f),
    ...checkIpv6Forwarding(f, t),
    checkPublicInterface(f, t),
    ...checkRpFilter(f, t),
    ...checkBridgeFilter(f, t),
    ...checkConflicts(f, t),
    ...checkDnsPort(f, t),
    checkWritableDir("state_path", "state_path", f.statePath),
    checkWritableDir("admin_socket", "admin socket directory", f.socketDir),
  ];
}

export interface DoctorReport {
  ok: boolean;
  counts: Record<Status, number>;
  checks: CheckResult[];
}

export function report(checks: CheckResult[]): DoctorReport {
  const counts: Record<Status, number> = { ok: 0, warn: 0, fail: 0 };
  for (const c of checks) counts[c.status] += 1;
  return { ok: counts.fail === 0, counts, checks };
}

/** Wraps long text at `width` columns with a hanging indent. */
function wrap(text: string, indent: number, width = 100): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.map((l, i) => (i === 0 ? l : " ".repeat(indent) + l));
}

export function renderText(r: DoctorReport): string {
  const idWidth = Math.max(...r.checks.map((c) => c.id.length));
  const indent = 6 + idWidth + 2;
  const out: string[] = [];
  for (const c of r.checks) {
    out.push(`${c.status.padEnd(6)}${c.id.padEnd(idWidth)}  ${wrap(c.summary, indent).join("\n")}`);
    // Fixes stay on one line so they can be copied as they are.
    if (c.fix) out.push(`${" ".repeat(indent)}fix: ${c.fix}`);
  }
  out.push("", `${r.counts.ok} ok, ${r.counts.warn} warn, ${r.counts.fail} fail`);
  return out.join("\n");
}
