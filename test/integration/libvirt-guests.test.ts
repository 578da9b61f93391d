/**
 * A real libvirtd and a real QEMU guest (TCG) in a host namespace with the real agent: the
 * domain becomes a netlet instance through the hook alone (`virsh define` + `virsh start`, no
 * netlet verb), the guest's udhcpc gets the stored address and its wget the metadata; invalid
 * netlet metadata refuses the start with netlet's line; `virsh destroy` unbinds the port and
 * the instance keeps its address.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "bun";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Lab, requireNetns, run, stopProcess, waitFor } from "../harness/netns.ts";
import type { Subprocess } from "bun";
import { netletBinary } from "../harness/binary.ts";
import { tinyGuest } from "../harness/tiny-guest.ts";
import { libvirtdLog, libvirtEtc, startLibvirtd, type Libvirtd } from "../harness/libvirtd.ts";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl demo@host";
const TOOLS = ["libvirtd", "virtlogd", "virsh", "qemu-system-x86_64", "cpio", "nsenter", "unshare"];

/** Like requireNetns: under CI=true missing libvirt/QEMU is a failure, elsewhere a stated skip. */
function requireLibvirt(): boolean {
  const missing = TOOLS.filter((t) => spawnSync(["sh", "-c", `command -v ${t}`]).exitCode !== 0);
  if (missing.length && process.env.CI === "true")
    throw new Error(
      `libvirt tests need ${missing.join(", ")} under CI=true (Debian: libvirt-daemon-system libvirt-clients qemu-system-x86 cpio)`,
    );
  return requireNetns() && missing.length === 0;
}

function domainXml(o: {
  name: string;
  uuid?: string;
  mac?: string;
  kernel: string;
  initrd: string;
  console: string;
  metadata?: string;
  pasted?: string;
}): string {
  // `pasted`: what `netlet libvirt xml` printed, split where its comments say each piece goes.
  const [top, os, devices] = o.pasted ? o.pasted.split(/<!-- inside <(?:os|devices)>: -->/) : ["", "", ""];
  return `<domain type='qemu'>
  <name>${o.name}</name>
  ${o.uuid ? `<uuid>${o.uuid}</uuid>` : ""}
  ${o.metadata ? `<metadata>${o.metadata}</metadata>` : ""}
  ${top}
  <memory unit='MiB'>160</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>${o.kernel}</kernel><initrd>${o.initrd}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline>${os}</os>
  <on_poweroff>destroy</on_poweroff><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    ${o.mac ? `<interface type='bridge'><mac address='${o.mac}'/><source bridge='br100'/><model type='virtio'/></interface>` : devices}
    <serial type='file'><source path='${o.console}'/><target port='0'/></serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>`;
}

describe.skipIf(!requireLibvirt())("libvirt domains become netlet instances through the hook", () => {
  const lab = new Lab();
  const dir = mkdtempSync(join(tmpdir(), "netlet-libvirt-"));
  const socket = join(dir, "netlet.sock");
  const cli = (...a: string[]) => run([netletBinary(), ...a, "--socket", socket]);
  const show = (ref: string) => JSON.parse(cli("show", ref, "--json").stdout);
  let libvirt: Libvirtd | null = null;
  let guest: { kernel: string; initrd: string };

  beforeAll(async () => {
    guest = tinyGuest();
    const host = lab.addNamespace("nvlh");
    lab.addBridge(host, "br100");
    hostNs = host;
    const conf = join(dir, "netlet.conf");
    // The agent reaches libvirtd through the test's socket directory; it reconciles every second
    // and deletes an undefined domain's instance at once.
    writeFileSync(
      conf,
      `[DEFAULT]\nhost = lh\nstate_path = ${dir}/state\nmy_ip = 192.0.2.10\npublic_interface = lo\n` +
        `libvirt_uri = qemu:///system?socket=${dir}/sock/libvirt-sock\nlibvirt_poll_interval = 1\nlibvirt_undefine_grace = 0\n`,
    );
    await startAgent();
    cli("network-create", "private", "--fixed-range-v4", "10.30.0.0/24", "--bridge", "br100");
    cli("secgroup-create", "web");
    cli("secgroup-add-rule", "web", "tcp", "22", "22", "0.0.0.0/0");
    const etc = libvirtEtc(dir);
    cli("libvirt", "install", "--hooks-dir", join(etc, "hooks"), "--binary", netletBinary(), "--timeout", "20");
    libvirt = await startLibvirtd(lab, host, dir);
  }, 120_000);

  let hostNs = "";
  let agent: Subprocess | null = null;
  async function startAgent() {
    agent = lab.spawn(hostNs, [netletBinary(), "agent", "--config", join(dir, "netlet.conf"), "--socket", socket]);
    expect(
      await waitFor(() => run([netletBinary(), "status", "--socket", socket], { check: false }).code === 0, 10000),
    ).toBe(true);
  }

  afterAll(async () => {
    try {
      await libvirt?.stop();
    } finally {
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  const consoleOf = (name: string) => join(dir, `console-${name}.log`);
  const consoleText = (name: string) =>
    existsSync(consoleOf(name)) ? readFileSync(consoleOf(name), "utf8").replace(/\r/g, "") : "";
  /** seq numbers of the replies to the guest's 0.2 s pings to its router, and how many of the last `window` are missing. */
  const seqs = () =>
    [...consoleText("nvg1").matchAll(/NETLET-GUEST ping 64 bytes from [0-9.]+: seq=(\d+)/g)].map((m) => Number(m[1]));
  const lostSince = (first: number) => {
    const got = new Set(seqs());
    const last = seqs().at(-1)!;
    return [...Array(last - first).keys()].map((i) => first + i).filter((q) => !got.has(q)).length;
  };
  const between = (text: string, what: string) =>
    new RegExp(`NETLET-GUEST ${what}-begin\\n([^]*?)\\nNETLET-GUEST ${what}-end`).exec(text)?.[1] ?? null;

  test("virsh define + start, no netlet verb: the guest gets its lease and its metadata (key, user data, meta) for the domain's uuid", async () => {
    const uuid = "5e1f0c3a-7b2d-4c8e-9a01-23456789abcd";
    const md = `<netlet:instance xmlns:netlet="urn:netlet:libvirt:1"><netlet:key>${KEY}</netlet:key>
      <netlet:user-data>#cloud-config&#10;hostname: from-libvirt</netlet:user-data><netlet:meta key="role">db</netlet:meta><netlet:security-group>web</netlet:security-group></netlet:instance>`;
    writeFileSync(
      join(dir, "g1.xml"),
      domainXml({ name: "nvg1", uuid, mac: "52:54:00:30:00:01", ...guest, console: consoleOf("nvg1"), metadata: md }),
    );
    libvirt!.virsh(["define", join(dir, "g1.xml")]);
    const t0 = performance.now();
    const started = libvirt!.virsh(["start", "nvg1"], { check: false });
    expect(started.code === 0 ? "started" : `${started.stderr} ${libvirtdLog(dir)}`).toBe("started");
    const inst = show(uuid);
    expect(inst).toMatchObject({ uuid, name: "nvg1", key_data: KEY, meta: { role: "db" }, security_groups: ["web"] });
    const tap = libvirt!.virsh(["domiflist", "nvg1"]).stdout.trim().split(/\s+/)[0];
    expect(inst.ports[0]).toMatchObject({ mac: "52:54:00:30:00:01", port: tap });
    const text = await waitFor(
      () => (consoleText("nvg1").includes("NETLET-GUEST userdata-end") ? consoleText("nvg1") : ""),
      90_000,
      250,
    );
    const leaseAt = performance.now() - t0;
    expect(text || consoleText("nvg1").slice(-3000)).toContain(
      `NETLET-GUEST lease ip=${inst.ports[0].address} router=10.30.0.2 hostname=nvg1`,
    );
    const meta = JSON.parse(between(text, "meta") ?? "{}");
    expect(meta).toMatchObject({ uuid, name: "nvg1", public_keys: { nvg1: KEY }, meta: { role: "db" } });
    expect(between(text, "userdata")).toBe("#cloud-config\nhostname: from-libvirt");
    console.log(`libvirt: virsh start to the guest's metadata in ${(leaseAt / 1000).toFixed(1)} s (TCG boot included)`);
  }, 120_000);

  test("netlet boot + netlet libvirt xml pasted into a domain: libvirt accepts it, the guest is that instance (address, SMBIOS for cloud-init)", async () => {
    const booted = JSON.parse(cli("boot", "nvg3", "--json").stdout);
    const pasted = cli("libvirt", "xml", "nvg3").stdout;
    writeFileSync(join(dir, "g3.xml"), domainXml({ name: "nvg3", ...guest, console: consoleOf("nvg3"), pasted }));
    libvirt!.virsh(["define", join(dir, "g3.xml")]);
    libvirt!.virsh(["start", "nvg3"]);
    const text = await waitFor(
      () => (consoleText("nvg3").includes("NETLET-GUEST meta-end") ? consoleText("nvg3") : ""),
      90_000,
      250,
    );
    expect(text || consoleText("nvg3").slice(-3000)).toContain(
      `NETLET-GUEST smbios product=OpenStack Nova serial=${booted.uuid}`,
    );
    expect(text).toContain(`NETLET-GUEST lease ip=${booted.ports[0].address} `);
    expect(show("nvg3").ports[0]).toMatchObject({ mac: booted.ports[0].mac, port: `tap${booted.uuid.slice(0, 8)}-0` });
    expect(JSON.parse(cli("list", "--json").stdout).filter((i: { name: string }) => i.name === "nvg3")).toHaveLength(1);
    libvirt!.virsh(["destroy", "nvg3"]);
  }, 120_000);

  test("type='network' on a libvirt network that is a plain bridge netlet serves: registered at start, its tap declared", () => {
    writeFileSync(
      join(dir, "net.xml"),
      "<network><name>nvbr</name><forward mode='bridge'/><bridge name='br100'/></network>",
    );
    libvirt!.virsh(["net-define", join(dir, "net.xml")]);
    libvirt!.virsh(["net-start", "nvbr"]);
    const uuid = "5e1f0c3a-7b2d-4c8e-9a01-23456789abcf";
    const xml = domainXml({
      name: "nvg4",
      uuid,
      mac: "52:54:00:30:00:04",
      ...guest,
      console: consoleOf("nvg4"),
      metadata: `<netlet:instance xmlns:netlet="urn:netlet:libvirt:1"><netlet:meta key="via">network</netlet:meta></netlet:instance>`,
    }).replace(
      "<interface type='bridge'><mac address='52:54:00:30:00:04'/><source bridge='br100'/>",
      "<interface type='network'><mac address='52:54:00:30:00:04'/><source network='nvbr'/>",
    );
    writeFileSync(join(dir, "g4.xml"), xml);
    libvirt!.virsh(["define", join(dir, "g4.xml")]);
    const r = libvirt!.virsh(["start", "nvg4"], { check: false });
    expect(r.code === 0 ? "started" : r.stderr).toBe("started");
    const tap = libvirt!.virsh(["domiflist", "nvg4"]).stdout.trim().split(/\s+/)[0];
    expect(show(uuid)).toMatchObject({
      name: "nvg4",
      meta: { via: "network" },
      ports: [{ mac: "52:54:00:30:00:04", port: tap }],
    });
    libvirt!.virsh(["destroy", "nvg4"]);
    libvirt!.virsh(["undefine", "nvg4"]);
  }, 30_000);

  test("invalid netlet metadata: virsh start fails with netlet's one line and nothing is registered", () => {
    const uuid = "5e1f0c3a-7b2d-4c8e-9a01-23456789abce";
    const md = `<netlet:instance xmlns:netlet="urn:netlet:libvirt:1"><netlet:network label="private" fixed-ip="10.30.0.999"/></netlet:instance>`;
    writeFileSync(
      join(dir, "g2.xml"),
      domainXml({ name: "nvg2", uuid, mac: "52:54:00:30:00:02", ...guest, console: consoleOf("nvg2"), metadata: md }),
    );
    libvirt!.virsh(["define", join(dir, "g2.xml")]);
    const r = libvirt!.virsh(["start", "nvg2"], { check: false });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      "domain nvg2: netlet metadata: <network label='private' fixed-ip='10.30.0.999'>: not an IPv4 address",
    );
    expect(libvirt!.virsh(["domstate", "nvg2"]).stdout.trim()).toBe("shut off");
    expect(run([netletBinary(), "show", uuid, "--socket", socket], { check: false }).code).not.toBe(0);
  });

  test("agent restart: the guest loses no more than the restart, the binding survives; a port unplugged by hand is declared again by the agent's reconciliation", async () => {
    const tap = show("nvg1").ports[0].port;
    expect(tap).not.toBeNull();
    // The guest pings its router every 0.2 s: what it lost across the restart is the gap in its seq numbers.
    expect(await waitFor(() => seqs().length > 5, 20_000)).toBe(true);
    const t0 = performance.now();
    await stopProcess(agent!);
    await startAgent();
    const restartS = (performance.now() - t0) / 1000;
    const before = seqs().at(-1)!;
    expect(await waitFor(() => seqs().at(-1)! > before + 10, 20_000)).toBe(true);
    const lost = lostSince(before - 10);
    console.log(
      `libvirt: agent restart took ${restartS.toFixed(1)} s; the guest lost ${lost} of its 0.2 s pings to the router meanwhile`,
    );
    expect(lost * 0.2).toBeLessThanOrEqual(restartS);
    // A binding withdrawn by hand while libvirt still runs the guest is restored by the agent.
    cli("unplug", "nvg1");
    const back = await waitFor(() => show("nvg1").ports[0].port, 10_000);
    expect(back).toBe(tap);
  }, 30_000);

  test("libvirtd restart: the running guest loses no more than the restart and keeps its port binding (libvirt's reconnect hook re-declares the same tap)", async () => {
    const tap = show("nvg1").ports[0].port;
    const before = seqs().at(-1)!;
    const t0 = performance.now();
    await libvirt!.restart();
    const restartS = (performance.now() - t0) / 1000;
    expect(libvirt!.virsh(["domstate", "nvg1"]).stdout.trim()).toBe("running");
    expect(await waitFor(() => seqs().at(-1)! > before + 10, 20_000)).toBe(true);
    const lost = lostSince(before);
    console.log(
      `libvirt: libvirtd restart took ${restartS.toFixed(1)} s; the guest lost ${lost} of its 0.2 s pings to the router meanwhile`,
    );
    // The bound the agent restart has too: no packet dropped for longer than the restart itself.
    expect(lost * 0.2).toBeLessThanOrEqual(restartS);
    expect(libvirt!.virsh(["domiflist", "nvg1"]).stdout.trim().split(/\s+/)[0]).toBe(tap);
    expect(show("nvg1").ports[0].port).toBe(tap);
    expect(JSON.parse(cli("status", "--json").stdout).alarms).toEqual([]);
  }, 60_000);

  test("virsh destroy: the port is unbound and the instance keeps its address", async () => {
    const before = show("nvg1");
    expect(before.ports[0].port).not.toBeNull();
    libvirt!.virsh(["destroy", "nvg1"]);
    const after = await waitFor(() => {
      const i = show("nvg1");
      return i.ports[0].port === null ? i : null;
    }, 10_000);
    expect(after?.ports[0]).toMatchObject({ port: null, address: before.ports[0].address, mac: before.ports[0].mac });
  });

  test("virsh undefine: the agent deletes the instance (grace 0 here) and its address returns to the pool", async () => {
    const address = show("nvg1").ports[0].address;
    libvirt!.virsh(["undefine", "nvg1"]);
    expect(
      await waitFor(
        () => run([netletBinary(), "show", "nvg1", "--socket", socket], { check: false }).code !== 0,
        10_000,
      ),
    ).toBe(true);
    const ip = JSON.parse(cli("fixed", "list", "--json").stdout).find(
      (f: { address: string }) => f.address === address,
    );
    expect(ip?.instance_uuid ?? null).toBeNull();
  }, 20_000);
});
