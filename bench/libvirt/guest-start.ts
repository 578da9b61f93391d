/**
 * `virsh start` to a served guest, with a real libvirtd (in a namespace, as the CI test runs it),
 * netlet's hook and the tiny TCG guest: wall time from `virsh start` to the guest's lease, and
 * inside the guest (its /proc/uptime) the boot until DHCP starts, DHCP itself (DISCOVER → bound,
 * netlet's DHCP server behind the port the hook declared) and the metadata fetch through netlet.
 * Run: bun bench/libvirt/guest-start.ts [starts=3]
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Lab, run, waitFor } from "../../test/harness/netns.ts";
import { netletBinary } from "../../test/harness/binary.ts";
import { tinyGuest } from "../../test/harness/tiny-guest.ts";
import { libvirtEtc, startLibvirtd } from "../../test/harness/libvirtd.ts";

const starts = Number(process.argv[2] ?? 3);
const lab = new Lab();
const dir = mkdtempSync(join(tmpdir(), "netlet-guestbench-"));
const socket = join(dir, "netlet.sock");
const bin = netletBinary();
const rows: string[] = [];
try {
  const g = tinyGuest();
  const ns = lab.addNamespace("nvgb");
  lab.addBridge(ns, "br100");
  writeFileSync(
    join(dir, "c.conf"),
    `[DEFAULT]\nhost = gb\nstate_path = ${dir}/state\nmy_ip = 192.0.2.10\npublic_interface = lo\nlibvirt_uri =\n`,
  );
  lab.spawn(ns, [bin, "agent", "--config", join(dir, "c.conf"), "--socket", socket]);
  await waitFor(() => run([bin, "status", "--socket", socket], { check: false }).code === 0, 10_000);
  run([bin, "network-create", "private", "--fixed-range-v4", "10.50.0.0/24", "--bridge", "br100", "--socket", socket]);
  const etc = libvirtEtc(dir);
  run([bin, "libvirt", "install", "--hooks-dir", join(etc, "hooks"), "--binary", bin, "--socket", socket]);
  const lv = await startLibvirtd(lab, ns, dir);
  for (let k = 0; k < starts; k++) {
    const log = join(dir, `console-${k}.log`);
    writeFileSync(
      join(dir, "d.xml"),
      `<domain type='qemu'><name>nvgb${k}</name><memory unit='MiB'>160</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type><kernel>${g.kernel}</kernel><initrd>${g.initrd}</initrd><cmdline>console=ttyS0 quiet panic=-1</cmdline></os>
<devices><interface type='bridge'><mac address='52:54:00:50:00:0${k}'/><source bridge='br100'/><model type='virtio'/></interface>
<serial type='file'><source path='${log}'/></serial><controller type='usb' model='none'/><memballoon model='none'/></devices></domain>`,
    );
    lv.virsh(["define", join(dir, "d.xml")]);
    const t0 = performance.now();
    lv.virsh(["start", `nvgb${k}`]);
    const hookMs = performance.now() - t0;
    const text = await waitFor(
      () => {
        const t = existsSync(log) ? readFileSync(log, "utf8") : "";
        return t.includes("t-meta-done=") ? t : "";
      },
      120_000,
      100,
    );
    const total = performance.now() - t0;
    const at = (k2: string) => Number(new RegExp(`t-${k2}=([0-9.]+)`).exec(text)?.[1] ?? NaN);
    rows.push(
      `| ${k + 1} | ${(hookMs / 1000).toFixed(2)} | ${(total / 1000).toFixed(1)} | ${at("dhcp-start").toFixed(2)} | ${(at("dhcp-done") - at("dhcp-start")).toFixed(2)} | ${(at("meta-done") - at("dhcp-done")).toFixed(2)} |`,
    );
    lv.virsh(["destroy", `nvgb${k}`]);
    lv.virsh(["undefine", `nvgb${k}`]);
  }
  await lv.stop();
} finally {
  await lab.cleanup();
  rmSync(dir, { recursive: true, force: true });
}
console.log(
  "| start | virsh start returns (s) | virsh start → metadata fetched (s) | guest uptime at DHCP start (s) | DHCP DISCOVER → bound (s) | metadata GET (s) |",
);
console.log("| --- | --- | --- | --- | --- | --- |");
for (const r of rows) console.log(r);
