/**
 * `netlet lab up --guests qemu`: real QEMU guests (TCG, the tiny guest) on two lab hosts, their
 * taps plugged by netlet qemu-ifup. Each guest's console shows a lease from its own host and
 * its own instance's metadata; `lab down` leaves no namespace and no QEMU, also after `lab up`
 * was killed half-way.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "bun";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireNetns, run, uniqueName, waitFor } from "../harness/netns.ts";
import { netletBinary } from "../harness/binary.ts";
import { GUEST_CACHE, tinyGuest } from "../harness/tiny-guest.ts";

function requireQemu(): boolean {
  const missing = ["qemu-system-x86_64", "cpio"].filter(
    (t) => spawnSync(["sh", "-c", `command -v ${t}`]).exitCode !== 0,
  );
  if (missing.length && process.env.CI === "true")
    throw new Error(`the QEMU lab test needs ${missing.join(", ")} under CI=true (Debian: qemu-system-x86 cpio)`);
  return requireNetns() && missing.length === 0;
}

/** Running, and not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  try {
    return existsSync(stat) && !/^\d+ \(.*\) Z/.test(readFileSync(stat, "utf8"));
  } catch {
    return false;
  }
}

interface Vm {
  name: string;
  host: string;
  ns: string;
  guest: string;
  uuid: string;
  mac: string;
  port: string;
  pid: number;
  console: string;
  fixed_ip: string;
  leased: string | null;
  dhcp_server: string | null;
  metadata: string | null;
  metadata_uuid: string | null;
  floating_ip: string | null;
}
interface Host {
  name: string;
  ns: string;
  socket: string;
  pid: number;
}

describe.skipIf(!requireQemu())("netlet lab up --guests qemu", () => {
  const env = {
    NETLET_LAB_DIR: mkdtempSync(join(tmpdir(), "netlet-labq-")),
    NETLET_LAB_PREFIX: `${uniqueName("tq")}-`,
    NETLET_GUEST_CACHE: GUEST_CACHE,
  };
  const lab = (...args: string[]) => run([netletBinary(), "lab", ...args], { check: false, env });
  const mine = () =>
    run(["ip", "netns", "list"])
      .stdout.split("\n")
      .filter((l) => l.startsWith(env.NETLET_LAB_PREFIX));
  // QEMUs of this lab, found by their -name (the lab's prefix), whatever their pid.
  const ourQemus = () =>
    run(["pgrep", "-f", `qemu-system-x86_64 -name ${env.NETLET_LAB_PREFIX}`], { check: false })
      .stdout.split("\n")
      .filter(Boolean)
      .map(Number)
      .filter(alive);
  afterAll(() => lab("down"), 30_000);

  test("two hosts, one real guest each: lease from its own host, its own metadata, floating IP answers; lab down leaves nothing", async () => {
    tinyGuest(); // built (or found) in the cache the lab is pointed at
    const up = lab("up", "--hosts", "2", "--vms", "1", "--guests", "qemu", "--json");
    expect(up.code, up.stderr).toBe(0);
    const state = JSON.parse(up.stdout) as { hosts: Host[]; vms: Vm[]; floating_reachable: boolean };
    expect(state.vms.map((v) => [v.name, v.host, v.guest])).toEqual([
      ["vm1", "host1", "qemu"],
      ["vm2", "host2", "qemu"],
    ]);
    // No VM namespaces: the guests are QEMU processes in their hosts' namespaces.
    expect(mine()).toHaveLength(4);
    for (const vm of state.vms) {
      const host = state.hosts.find((h) => h.name === vm.host)!;
      expect(alive(vm.pid)).toBe(true);
      expect(readFileSync(`/proc/${vm.pid}/cmdline`, "utf8")).toContain("qemu-system-x86_64");
      // The tap is QEMU's, on the host's bridge, and declared as the VIF's port.
      expect(run(["ip", "netns", "exec", host.ns, "ip", "-o", "link", "show", vm.port]).stdout).toContain(
        "master br100",
      );
      const shown = JSON.parse(run([netletBinary(), "show", vm.name, "--json", "--socket", host.socket]).stdout);
      expect(shown.ports[0]).toMatchObject({ port: vm.port, mac: vm.mac, address: vm.fixed_ip });
      expect(shown.uuid).toBe(vm.uuid);
      // What the guest itself printed: its lease came from its own host's address on br100 ...
      const br = JSON.parse(
        run(["ip", "netns", "exec", host.ns, "ip", "-j", "-4", "addr", "show", "dev", "br100"]).stdout,
      );
      const hostAddr = br[0].addr_info[0].local;
      const text = readFileSync(vm.console, "utf8").replace(/\r/g, "");
      expect(text).toContain(`NETLET-GUEST lease ip=${vm.fixed_ip} router=${hostAddr} hostname=${vm.name}`);
      expect(text).toContain(`serverid=${hostAddr}`);
      expect([vm.leased, vm.dhcp_server]).toEqual([vm.fixed_ip, hostAddr]);
      // ... and the metadata it read is its own instance's.
      expect(JSON.parse(/NETLET-GUEST meta-begin\n(.*)\n/.exec(text)![1])).toMatchObject({
        uuid: vm.uuid,
        name: vm.name,
      });
      expect(vm.metadata_uuid).toBe(vm.uuid);
      expect(text).toContain(`NETLET-GUEST instance-id=${vm.metadata}`);
      expect(vm.metadata).toMatch(/^i-[0-9a-f]{8}$/);
    }
    expect(new Set(state.vms.map((v) => v.dhcp_server)).size).toBe(2);
    expect(new Set(state.vms.map((v) => v.metadata)).size).toBe(2);
    // The real guest answers on its floating IP from the internet namespace.
    expect(state.vms[0].floating_ip).toMatch(/^10\.254\.0\.\d+$/);
    expect(state.floating_reachable).toBe(true);
    const status = lab("status").stdout;
    expect(status).toContain("QEMU pid");
    expect(status).toContain(state.vms[1].console);
    const exec = lab("exec", "vm1", "--", "true");
    expect([exec.code, exec.stderr.trim()]).toEqual([
      2,
      `netlet: vm1 is a QEMU guest, with no namespace to enter: its serial console is logged in ${state.vms[0].console}`,
    ]);
    expect(ourQemus().sort()).toEqual(state.vms.map((v) => v.pid).sort());

    // What lab down relies on: a QEMU stopped with SIGTERM runs qemu-ifdown (the port is
    // withdrawn, the address kept) and its tap goes with it.
    const vm2 = state.vms[1];
    const host2 = state.hosts[1];
    process.kill(vm2.pid, "SIGTERM");
    const unplugged = await waitFor(() => {
      const i = JSON.parse(run([netletBinary(), "show", "vm2", "--json", "--socket", host2.socket]).stdout);
      return i.ports[0].port === null ? i.ports[0] : null;
    }, 10_000);
    expect(unplugged).toMatchObject({ port: null, address: vm2.fixed_ip });
    expect(run(["ip", "netns", "exec", host2.ns, "ip", "link", "show", vm2.port], { check: false }).code).not.toBe(0);

    expect(lab("down").code).toBe(0);
    expect(mine()).toEqual([]);
    const pids = [...state.vms.map((v) => v.pid), ...state.hosts.map((h) => h.pid)];
    expect(await waitFor(() => pids.every((p) => !alive(p)), 5000)).toBe(true);
    expect(ourQemus()).toEqual([]);
  }, 120_000);

  test("lab down after lab up was killed while its guest booted: no namespace, no QEMU", async () => {
    const p = Bun.spawn([netletBinary(), "lab", "up", "--hosts", "1", "--vms", "1", "--guests", "qemu"], {
      env: { ...process.env, ...env },
      stdout: "ignore",
      stderr: "ignore",
    });
    const started = await waitFor(() => ourQemus().length > 0, 30_000);
    p.kill("SIGKILL");
    await p.exited;
    expect(started).toBe(true);
    expect(mine().length).toBeGreaterThan(0);
    expect(lab("down").code).toBe(0);
    expect(mine()).toEqual([]);
    expect(await waitFor(() => ourQemus().length === 0, 5000)).toBe(true);
  }, 60_000);
});
