/**
 * Plain QEMU (no libvirt) with `-netdev tap,script=…,downscript=…` running netlet qemu-ifup and
 * qemu-ifdown: the real QEMU (TCG) with the tiny guest, in a host namespace with the real agent.
 * ifup puts QEMU's tap in the bridge and declares it as the port; the guest gets its lease and
 * metadata; when QEMU exits, ifdown withdraws the port and the instance keeps its address.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync, type Subprocess } from "bun";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Lab, nsRun, requireNetns, run, stopProcess, waitFor } from "../harness/netns.ts";
import { netletBinary } from "../harness/binary.ts";
import { tinyGuest } from "../harness/tiny-guest.ts";

function requireQemu(): boolean {
  const missing = ["qemu-system-x86_64", "cpio"].filter(
    (t) => spawnSync(["sh", "-c", `command -v ${t}`]).exitCode !== 0,
  );
  if (missing.length && process.env.CI === "true")
    throw new Error(`the QEMU test needs ${missing.join(", ")} under CI=true (Debian: qemu-system-x86 cpio)`);
  return requireNetns() && missing.length === 0;
}

describe.skipIf(!requireQemu())("plain QEMU with netlet qemu-ifup / qemu-ifdown", () => {
  const lab = new Lab();
  const dir = mkdtempSync(join(tmpdir(), "netlet-qemu-"));
  const socket = join(dir, "netlet.sock");
  const cli = (...a: string[]) => run([netletBinary(), ...a, "--socket", socket]);
  let host = "";
  let qemu: Subprocess | null = null;
  let inst: { uuid: string; ports: { mac: string; address: string; port: string | null }[] };
  const consoleLog = join(dir, "console.log");
  const consoleText = () => (existsSync(consoleLog) ? readFileSync(consoleLog, "utf8").replace(/\r/g, "") : "");

  beforeAll(async () => {
    const guest = tinyGuest();
    host = lab.addNamespace("nvqh");
    lab.addBridge(host, "br100");
    const conf = join(dir, "netlet.conf");
    writeFileSync(
      conf,
      `[DEFAULT]\nhost = qh\nstate_path = ${dir}/state\nmy_ip = 192.0.2.10\npublic_interface = lo\nlibvirt_uri =\n`,
    );
    lab.spawn(host, [netletBinary(), "agent", "--config", conf, "--socket", socket]);
    expect(
      await waitFor(() => run([netletBinary(), "status", "--socket", socket], { check: false }).code === 0, 10000),
    ).toBe(true);
    cli("network-create", "private", "--fixed-range-v4", "10.40.0.0/24", "--bridge", "br100", "--mtu", "1400");
    inst = JSON.parse(cli("boot", "vmq", "--json").stdout);
    for (const [name, verb] of [
      ["ifup", "qemu-ifup"],
      ["ifdown", "qemu-ifdown"],
    ]) {
      writeFileSync(join(dir, name), `#!/bin/sh\nexec ${netletBinary()} ${verb} --socket ${socket} "$@"\n`, {
        mode: 0o755,
      });
    }
    // The tap name netlet libvirt xml and the docs use: tap<first 8 of the uuid>-<port index>.
    const tap = `tap${inst.uuid.slice(0, 8)}-0`;
    qemu = lab.spawn(host, [
      "qemu-system-x86_64",
      "-M",
      "pc",
      "-m",
      "160",
      "-display",
      "none",
      "-monitor",
      "none",
      "-no-reboot",
      "-serial",
      `file:${consoleLog}`,
      "-kernel",
      guest.kernel,
      "-initrd",
      guest.initrd,
      "-append",
      "console=ttyS0 quiet panic=-1",
      "-smbios",
      `type=1,product=OpenStack Nova,serial=${inst.uuid}`,
      "-netdev",
      `tap,id=n0,ifname=${tap},script=${join(dir, "ifup")},downscript=${join(dir, "ifdown")}`,
      "-device",
      `virtio-net-pci,netdev=n0,mac=${inst.ports[0].mac}`,
    ]);
  }, 120_000);

  afterAll(async () => {
    try {
      await lab.cleanup();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  test("ifup bridges and declares QEMU's tap; the guest gets its lease and its metadata", async () => {
    const tap = `tap${inst.uuid.slice(0, 8)}-0`;
    const text = await waitFor(
      () => (consoleText().includes("NETLET-GUEST meta-end") ? consoleText() : ""),
      90_000,
      250,
    );
    expect(text || `${consoleText().slice(-2000)}\n${lab.logOf(qemu!)}`).toContain(
      `NETLET-GUEST lease ip=${inst.ports[0].address} router=10.40.0.2`,
    );
    expect(JSON.parse(/meta-begin\n(.*)\n/.exec(text)![1])).toMatchObject({ uuid: inst.uuid, name: "vmq" });
    const link = nsRun(host, ["ip", "-o", "link", "show", tap]).stdout;
    expect(link).toContain("master br100");
    expect(link).toContain("mtu 1400");
    expect(JSON.parse(cli("show", "vmq", "--json").stdout).ports[0].port).toBe(tap);
  }, 100_000);

  test("QEMU exits: ifdown withdraws the port; the instance keeps its address", async () => {
    await stopProcess(qemu!, 10_000);
    const after = await waitFor(() => {
      const i = JSON.parse(cli("show", "vmq", "--json").stdout);
      return i.ports[0].port === null ? i : null;
    }, 10_000);
    expect(after?.ports[0]).toMatchObject({ port: null, address: inst.ports[0].address });
  }, 30_000);
});
