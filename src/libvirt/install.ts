/**
 * `netlet libvirt install`: writes /etc/libvirt/hooks/qemu. Idempotent (a hook netlet wrote is
 * rewritten in place); a hook someone else wrote is kept as qemu.pre-netlet and run first with
 * the same arguments and XML, its failure refusing the start as it did before.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const HOOK_MARK = "# netlet-libvirt-hook 1";
export const CHAINED = "qemu.pre-netlet";

export interface InstallOptions {
  hooksDir: string;
  binary: string;
  socket: string;
  onAgentDown: "refuse" | "start";
  timeoutSeconds: number;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function hookScript(o: InstallOptions): string {
  const chained = join(o.hooksDir, CHAINED);
  return `#!/bin/sh
${HOOK_MARK}
# Written by \`netlet libvirt install\`; run it again rather than editing this file.
# libvirt runs this with DOMAIN OPERATION SUB-OPERATION EXTRA and the domain XML on stdin.
xml=$(cat)
if [ -x ${q(chained)} ]; then
  printf '%s\\n' "$xml" | ${q(chained)} "$@" || exit $?
fi
printf '%s\\n' "$xml" | exec ${q(o.binary)} libvirt hook --socket ${q(o.socket)} --on-agent-down ${o.onAgentDown} --timeout ${o.timeoutSeconds} -- "$@"
`;
}

/** Returns the lines to tell the operator. */
export function installHook(o: InstallOptions): string[] {
  const path = join(o.hooksDir, "qemu");
  const chained = join(o.hooksDir, CHAINED);
  const notes: string[] = [];
  mkdirSync(o.hooksDir, { recursive: true });
  const existing = existsSync(path) ? readFileSync(path, "utf8") : null;
  const ours = existing?.includes(HOOK_MARK) ?? false;
  if (existing !== null && !ours) {
    if (existsSync(chained))
      throw new Error(`${path} is not netlet's and ${chained} already exists: merge them by hand, then run this again`);
    renameSync(path, chained);
    notes.push(`kept the existing hook as ${chained}; netlet's hook runs it first`);
  }
  const script = hookScript(o);
  if (existing === script) {
    notes.push(`${path} is already installed`);
    return notes;
  }
  writeFileSync(`${path}.tmp`, script, { mode: 0o755 });
  chmodSync(`${path}.tmp`, 0o755);
  renameSync(`${path}.tmp`, path);
  notes.push(`wrote ${path}`);
  if (!ours) notes.push("restart libvirtd: it looks for hook scripts only when it starts");
  return notes;
}
