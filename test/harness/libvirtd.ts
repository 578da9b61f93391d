/**
 * A real libvirtd (with virtlogd) inside a test host's network namespace and a private mount
 * namespace: /run/libvirt is a tmpfs and /etc/libvirt, /var/lib/libvirt, /var/log/libvirt are
 * bind mounts of directories of the test, so its taps appear where the agent serves and nothing
 * touches the machine's own libvirt or firewall. QEMU runs as root without a security driver
 * (a test's kernel and console files need no relabelling). `stop()` ends it all; Lab.cleanup()
 * kills whatever is left in the namespace if a test fails first.
 */
import { appendFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { GUEST_CACHE } from "./tiny-guest.ts";
import { type Lab, run, type RunResult, waitFor } from "./netns.ts";

export interface Libvirtd {
  /** The test's copy of /etc/libvirt (hooks go in its hooks/). */
  etc: string;
  /** libvirtd's sockets are in the test's directory, so the agent outside the mount namespace reaches them. */
  uri: string;
  /** Stop and start libvirtd (virtlogd and the guests keep running), as an upgrade does. */
  restart(): Promise<void>;
  virsh(args: string[], opts?: { check?: boolean; input?: string }): RunResult;
  /** Run any command in libvirtd's namespaces. */
  exec(argv: string[], opts?: { check?: boolean; input?: string }): RunResult;
  stop(): Promise<void>;
}

/** Prepare the private /etc/libvirt; call `startLibvirtd` after installing hooks into `etc/hooks`. */
export function libvirtEtc(dir: string): string {
  const etc = join(dir, "etc");
  cpSync("/etc/libvirt", etc, { recursive: true });
  // libvirt's default NAT network would build virbr0 and its firewall in the test's namespace;
  // domains and hooks of the machine are none of the test's business.
  rmSync(join(etc, "qemu", "networks", "autostart"), { recursive: true, force: true });
  rmSync(join(etc, "hooks"), { recursive: true, force: true });
  for (const f of readdirSync(join(etc, "qemu")).filter((f) => f.endsWith(".xml"))) rmSync(join(etc, "qemu", f));
  appendFileSync(
    join(etc, "qemu.conf"),
    '\nuser = "root"\ngroup = "root"\ndynamic_ownership = 0\nremember_owner = 0\nsecurity_driver = "none"\n',
  );
  appendFileSync(
    join(etc, "libvirtd.conf"),
    `\nlog_outputs = "3:file:/var/log/libvirt/libvirtd.log"\nunix_sock_dir = "${join(dir, "sock")}"\n`,
  );
  mkdirSync(join(etc, "hooks"), { recursive: true });
  return etc;
}

export async function startLibvirtd(lab: Lab, ns: string, dir: string): Promise<Libvirtd> {
  const etc = join(dir, "etc");
  for (const d of ["lib", "log", "run", "sock"]) mkdirSync(join(dir, d), { recursive: true });
  // QEMU's capabilities probe costs seconds; libvirt revalidates this cache against the binary.
  const cache = join(GUEST_CACHE, "libvirt-cache");
  mkdirSync(cache, { recursive: true });
  const script = `set -e
mkdir -p /run/libvirt
mount -t tmpfs tmpfs /run/libvirt
mount --bind ${etc} /etc/libvirt
mount --bind ${join(dir, "lib")} /var/lib/libvirt
mount --bind ${join(dir, "log")} /var/log/libvirt
mount --bind ${cache} /var/cache/libvirt
virtlogd -d -p /run/libvirt/virtlogd.pid
libvirtd -d -p /run/libvirt/libvirtd.pid
exec sleep infinity`;
  const holder: Subprocess = lab.spawn(ns, ["unshare", "-m", "--propagation", "private", "bash", "-c", script]);
  const exec = (argv: string[], opts: { check?: boolean; input?: string } = {}) =>
    run(["nsenter", "-t", String(holder.pid), "-m", "-n", ...argv], opts);
  const uri = `qemu:///system?socket=${join(dir, "sock", "libvirt-sock")}`;
  const virsh = (args: string[], opts: { check?: boolean; input?: string } = {}) =>
    exec(["virsh", "-q", "-c", uri, ...args], opts);
  const up = await waitFor(
    () => holder.exitCode === null && virsh(["version"], { check: false }).code === 0,
    30_000,
    200,
  );
  if (!up) throw new Error(`libvirtd did not come up in namespace ${ns}: ${lab.logOf(holder)} ${libvirtdLog(dir)}`);
  return {
    etc,
    uri,
    virsh,
    exec,
    async restart() {
      exec([
        "sh",
        "-c",
        `p=$(cat /run/libvirt/libvirtd.pid); kill $p; i=0; while kill -0 $p 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done`,
      ]);
      exec(["libvirtd", "-d", "-p", "/run/libvirt/libvirtd.pid"]);
      if (!(await waitFor(() => virsh(["version"], { check: false }).code === 0, 30_000, 200)))
        throw new Error(`libvirtd did not come back: ${libvirtdLog(dir)}`);
    },
    async stop() {
      if (holder.exitCode !== null) return;
      for (const d of virsh(["list", "--name"], { check: false }).stdout.split("\n").filter(Boolean))
        virsh(["destroy", d], { check: false });
      exec(
        [
          "sh",
          "-c",
          `for f in libvirtd virtlogd; do p=$(cat /run/libvirt/$f.pid) || continue; kill $p
        i=0; while kill -0 $p 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; done`,
        ],
        { check: false },
      );
      holder.kill("SIGKILL");
      await holder.exited;
    },
  };
}

/** The end of libvirtd's log, for failure messages. */
export function libvirtdLog(dir: string, bytes = 3000): string {
  const path = join(dir, "log", "libvirtd.log");
  return existsSync(path) ? readFileSync(path, "utf8").slice(-bytes) : "";
}
