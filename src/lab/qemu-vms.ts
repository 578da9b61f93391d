/**
 * `lab up --guests qemu`: each lab VM is a real QEMU guest (TCG, the tiny guest image) whose tap
 * sits on its host's bridge. QEMU runs inside the host's namespace and its -netdev scripts are
 * netlet's own qemu-ifup/qemu-ifdown against that host's agent, so the tap is bridged and
 * declared as the VIF's port exactly as on a hypervisor. What the guest got (lease, metadata)
 * is read from its serial console, which the tiny guest writes between NETLET-GUEST markers.
 */
import { existsSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LabHost, LabVm } from "./model.ts";
import { tinyGuestImage } from "./qemu-guest.ts";

/** Where the guest image is built at first use and kept. */
export const GUEST_CACHE = process.env.NETLET_GUEST_CACHE ?? "/var/cache/netlet";

/** What a guest printed on its console; `done` once it has tried the metadata service. */
export interface ConsoleReport {
  leased: string | null;
  dhcpServer: string | null;
  metadata: string | null;
  metadataUuid: string | null;
  done: boolean;
}

/** Pure: parse the tiny guest's console output. */
export function parseConsole(text: string): ConsoleReport {
  const t = text.replace(/\r/g, "");
  const lease = /^NETLET-GUEST lease ip=(\d+\.\d+\.\d+\.\d+) .*?serverid=(\d+\.\d+\.\d+\.\d+)?$/m.exec(t);
  const iid = /^NETLET-GUEST instance-id=(.*)$/m.exec(t);
  let metadataUuid: string | null = null;
  const meta = /^NETLET-GUEST meta-begin\n(.*)\n/m.exec(t);
  try {
    const uuid = meta ? (JSON.parse(meta[1]) as { uuid?: unknown }).uuid : null;
    metadataUuid = typeof uuid === "string" ? uuid : null;
  } catch {
    /* no JSON: the guest read no metadata */
  }
  return {
    leased: lease?.[1] ?? null,
    dhcpServer: lease?.[2] ?? null,
    metadata: iid && /^i-[0-9a-f]{8}$/.test(iid[1].trim()) ? iid[1].trim() : null,
    metadataUuid,
    done: !!iid,
  };
}

/** The scripts QEMU runs with the tap's name: netlet qemu-ifup/qemu-ifdown on this host's agent. */
function ifScripts(h: LabHost, netlet: string[]): { up: string; down: string } {
  const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
  const out = { up: join(h.stateDir, "qemu-ifup"), down: join(h.stateDir, "qemu-ifdown") };
  for (const [path, verb] of [
    [out.up, "qemu-ifup"],
    [out.down, "qemu-ifdown"],
  ]) {
    writeFileSync(path, `#!/bin/sh\nexec ${netlet.map(q).join(" ")} ${verb} --socket ${q(h.socket)} "$@"\n`, {
      mode: 0o755,
    });
  }
  return out;
}

/** The guest image (built and cached at first use). */
export function guestImage(): { kernel: string; initrd: string } {
  return tinyGuestImage(GUEST_CACHE);
}

/**
 * Start the VM's QEMU in its host's namespace. The tap is named as `netlet libvirt xml` names
 * it (tap<first 8 of the uuid>-0), which is how qemu-ifup finds the instance.
 */
export function startQemu(vm: LabVm, h: LabHost, image: { kernel: string; initrd: string }, netlet: string[]): void {
  const tap = `tap${vm.uuid!.slice(0, 8)}-0`;
  const s = ifScripts(h, netlet);
  vm.console = join(h.stateDir, `${vm.name}.console`);
  vm.port = tap;
  writeFileSync(vm.console, "");
  const log = openSync(join(h.stateDir, `${vm.name}.qemu.log`), "a");
  const p = Bun.spawn(
    [
      "ip",
      "netns",
      "exec",
      h.ns,
      "qemu-system-x86_64",
      "-name",
      vm.ns,
      "-M",
      "pc",
      "-accel",
      "tcg",
      "-m",
      "160",
      "-display",
      "none",
      "-monitor",
      "none",
      "-no-reboot",
      "-serial",
      `file:${vm.console}`,
      "-kernel",
      image.kernel,
      "-initrd",
      image.initrd,
      "-append",
      "console=ttyS0 quiet panic=-1",
      // nova's SMBIOS identity, as a cloud guest expects it.
      "-smbios",
      `type=1,product=OpenStack Nova,serial=${vm.uuid}`,
      "-netdev",
      `tap,id=n0,ifname=${tap},script=${s.up},downscript=${s.down}`,
      "-device",
      `virtio-net-pci,netdev=n0,mac=${vm.mac}`,
    ],
    { stdin: "ignore", stdout: log, stderr: log },
  );
  p.unref();
  vm.pid = p.pid;
}

/** Wait until every QEMU guest has reported on its console (or the deadline), and record it. */
export async function readGuests(vms: LabVm[], timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reports = vms.map((vm) =>
      parseConsole(vm.console && existsSync(vm.console) ? readFileSync(vm.console, "utf8") : ""),
    );
    for (const [i, vm] of vms.entries())
      Object.assign(vm, {
        leased: reports[i].leased,
        dhcpServer: reports[i].dhcpServer,
        metadata: reports[i].metadata,
        metadataUuid: reports[i].metadataUuid,
      });
    if (reports.every((r) => r.done) || Date.now() >= deadline) return;
    await Bun.sleep(250);
  }
}

/** The QEMU of this lab VM, if that pid still is it (never signal a reused pid). */
function isOurQemu(vm: LabVm): boolean {
  if (!vm.pid || !vm.console) return false;
  try {
    const cmd = readFileSync(`/proc/${vm.pid}/cmdline`, "utf8");
    return cmd.includes("qemu-system") && cmd.includes(vm.console);
  } catch {
    return false;
  }
}

/**
 * Stop the lab's QEMUs while the agents still run: on SIGTERM QEMU runs its downscript
 * (qemu-ifdown withdraws the port) and removes its tap. Whatever is left is killed with the
 * host namespace.
 */
export async function stopQemus(vms: LabVm[], timeoutMs = 5000): Promise<void> {
  const ours = vms.filter(isOurQemu);
  for (const vm of ours) process.kill(vm.pid!, "SIGTERM");
  const deadline = Date.now() + timeoutMs;
  while (ours.some(isOurQemu) && Date.now() < deadline) await Bun.sleep(100);
  for (const vm of ours.filter(isOurQemu)) process.kill(vm.pid!, "SIGKILL");
}

/** Why a QEMU guest of the lab is not served, one line each (empty when all are). */
export function guestFailures(vms: LabVm[]): string[] {
  return vms
    .filter((v) => v.guest === "qemu" && (!v.leased || !v.metadata))
    .map((v) => `${v.name} (QEMU) ${!v.leased ? "got no lease" : "read no metadata"}; its console: ${v.console}`);
}
