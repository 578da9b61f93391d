/**
 * A full Debian 12 guest with cloud-init, served by a real netlet agent: QEMU (TCG, no KVM) boots the
 * cached debootstrap image (debian-image.ts) with nova's SMBIOS identity, its tap plugged by
 * `netlet qemu-ifup`. Measured from QEMU's start: the guest's first DHCP lease (netlet's lease table),
 * its first metadata request and the whole crawl (the agent's access log), and "Cloud-init … finished"
 * on the serial console; inside the guest, cloud-init's own DHCP step (its cloud-init.log). Then checked
 * over SSH from the host namespace with the generated key: the hostname, cloud-init's result (no
 * errors), the user-data script's output and the interface MTU; and the floating IP answers ping from
 * an outside namespace. One line per figure; exit 1 when a check fails. Not part of CI (minutes per
 * boot, a 3 GB image). NETLET_BENCH_KEEP=1 keeps the agent log, consoles and guest logs.
 * Run: bun bench/guests/debian-cloudinit.ts [runs=1]
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Lab, nsRun, run, stopProcess, waitFor } from "../../test/harness/netns.ts";
import { netletBinary } from "../../test/harness/binary.ts";
import { ApiClient } from "../../src/cli/client.ts";
import type { Lease } from "../../src/model.ts";
import { type DebianImage, debianImage, qemuArgv } from "./debian-image.ts";
import { guestChecks, guestDhcpSeconds, metadataRequests, parseFinished } from "./guest-report.ts";

const runs = Number(process.argv[2] ?? 1);
const BOOT_TIMEOUT_MS = Number(process.env.NETLET_BENCH_BOOT_TIMEOUT ?? 900_000);
const MTU = 1400;
const FLOATING_RANGE = "10.254.0.128/28";
// A user-data script (cloud-init's scripts-user, final stage) that leaves a trace to read over SSH.
const USER_DATA =
  '#!/bin/sh\necho "netlet user-data ran as $(id -un) at uptime $(cut -d" " -f1 /proc/uptime)" > /var/tmp/netlet-user-data\n';
const GUEST_QUERY =
  "hostname; echo ---; cat /run/cloud-init/result.json; echo ---; cat /var/tmp/netlet-user-data; echo ---; cat /sys/class/net/e*/mtu";

const lab = new Lab();
const dir = mkdtempSync(join(tmpdir(), "netlet-debian-"));
const socket = join(dir, "netlet.sock");
const agentLog = join(dir, "agent.log");
let cleaned: Promise<void> | null = null;
const cleanup = () => {
  cleaned ??= lab.cleanup().finally(() => {
    if (process.env.NETLET_BENCH_KEEP) console.error(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });
  return cleaned;
};
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
  process.on(sig, () => {
    console.error(`${sig}: stopping QEMU, the agent and the namespaces`);
    void cleanup().then(() => process.exit(130));
  });

const line = (s: string) => console.log(s);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(" ");
/** ssh as cloud-init's default user with the generated key (run it from the host namespace). */
const sshTo = (ip: string) => [
  "ssh",
  ...["-i", join(dir, "id"), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"],
  ...["-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", `debian@${ip}`],
];

interface Setup {
  bin: string;
  host: string;
  outside: string;
  netlet: (...args: string[]) => string;
}

/** Host namespace (br100, agent) and an outside namespace on its public interface; network, key, rules, pool. */
async function setUp(): Promise<Setup> {
  const bin = netletBinary();
  const netlet = (...args: string[]) => run([bin, ...args, "--socket", socket]).stdout;
  const host = lab.addNamespace("gudh");
  const outside = lab.addNamespace("gudx");
  lab.addBridge(host, "br100");
  const [pub] = lab.link(host, outside, { addrA: "10.254.0.2/24", addrB: "10.254.0.1/24" });
  const conf = join(dir, "c.conf");
  writeFileSync(
    conf,
    `[DEFAULT]\nhost = debian-bench\nstate_path = ${dir}/state\nmy_ip = 10.254.0.2\npublic_interface = ${pub}\nlibvirt_uri =\n`,
  );
  const agentArgv = [bin, "agent", "--config", conf, "--socket", socket, "--log-format", "json"];
  const agent = Bun.spawn(["ip", "netns", "exec", host, ...agentArgv], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: Bun.file(agentLog),
  });
  lab.procs.push(agent);
  if (!(await waitFor(() => run([bin, "status", "--socket", socket], { check: false }).code === 0, 20_000)))
    throw new Error(`the agent did not answer on ${socket}`);
  netlet("network-create", "private", "--fixed-range-v4", "10.60.0.0/24", "--bridge", "br100", "--mtu", String(MTU));
  run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "netlet-bench", "-f", join(dir, "id")]);
  netlet("keypair-add", "bench", "--pub-key", join(dir, "id.pub"));
  netlet("secgroup-add-rule", "default", "tcp", "22", "22", "0.0.0.0/0");
  netlet("secgroup-add-rule", "default", "icmp", "-1", "-1", "0.0.0.0/0");
  netlet("floating", "create", "--pool", "nova", "--ip_range", FLOATING_RANGE);
  writeFileSync(join(dir, "user-data"), USER_DATA);
  const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
  for (const verb of ["qemu-ifup", "qemu-ifdown"])
    writeFileSync(join(dir, verb), `#!/bin/sh\nexec ${q(bin)} ${verb} --socket ${q(socket)} "$@"\n`, { mode: 0o755 });
  return { bin, host, outside, netlet };
}

/** Boot one instance, print its figures and checks; true when everything passed. */
async function bootOnce(k: number, s: Setup, image: DebianImage, api: ApiClient): Promise<boolean> {
  const name = `deb${k}`;
  const userData = join(dir, "user-data");
  const inst = JSON.parse(
    s.netlet("boot", name, "--network", "private", "--key-name", "bench", "--user-data", userData, "--json"),
  ) as { uuid: string; ports: { mac: string; address: string }[] };
  const { mac, address: ip } = inst.ports[0];
  const fip = (JSON.parse(s.netlet("floating-ip-create", "nova", "--json")) as { address: string }).address;
  s.netlet("floating-ip-associate", name, fip);
  const consoleLog = join(dir, `${name}.console`);
  const qemuLog = join(dir, `${name}.qemu.log`);
  writeFileSync(consoleLog, "");
  const argv = qemuArgv({
    image,
    name: `gu-${name}`,
    uuid: inst.uuid,
    mac,
    consoleLog,
    ifup: join(dir, "qemu-ifup"),
    ifdown: join(dir, "qemu-ifdown"),
  });
  const t0 = Date.now();
  const qemu = Bun.spawn(["ip", "netns", "exec", s.host, ...argv], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: Bun.file(qemuLog),
    env: { ...process.env, NETLET_INSTANCE: inst.uuid },
  });
  lab.procs.push(qemu);
  let leaseAt: number | null = null;
  const finished = await waitFor(
    async () => {
      if (qemu.exitCode !== null)
        throw new Error(`QEMU exited ${qemu.exitCode}: ${readFileSync(qemuLog, "utf8").slice(-1000)}`);
      if (leaseAt === null) {
        const l = (await api.call<Lease[]>("GET", "/v1/leases")).find((x) => x.mac === mac && x.state === "leased");
        if (l) leaseAt = l.updatedAt;
      }
      return parseFinished(readFileSync(consoleLog, "utf8"));
    },
    BOOT_TIMEOUT_MS,
    250,
  );
  const finishedAt = Date.now();
  const meta = metadataRequests(readFileSync(agentLog, "utf8"), ip);
  const r = `run ${k}:`;
  line(`${r} QEMU start → DHCP lease ${ip} (netlet's lease table): ${leaseAt === null ? "none" : secs(leaseAt - t0)}`);
  line(`${r} QEMU start → first metadata request: ${meta.first === null ? "none" : secs(meta.first - t0)}`);
  const span = meta.first === null || meta.last === null ? "-" : secs(meta.last - meta.first);
  line(`${r} metadata crawl: ${meta.count} requests (${meta.refused} refused) over ${span}`);
  // The lease and metadata figures above still tell where a guest that never finished got stuck.
  if (!finished)
    throw new Error(`${name}: no "Cloud-init … finished" within ${secs(BOOT_TIMEOUT_MS)}; console: ${consoleLog}`);
  line(
    `${r} QEMU start → "Cloud-init … finished" on the console: ${secs(finishedAt - t0)} (guest uptime then: ${finished.uptime} s, datasource ${finished.datasource})`,
  );
  const ssh = nsRun(s.host, [...sshTo(ip), GUEST_QUERY], { check: false });
  // The guest's cloud-init log: its own timing of the DHCP exchange, and kept for reading.
  const ciLog = nsRun(s.host, [...sshTo(ip), "sudo -n cat /var/log/cloud-init.log"], { check: false }).stdout;
  writeFileSync(join(dir, `${name}.cloud-init.log`), ciLog);
  const dhcp = guestDhcpSeconds(ciLog);
  line(
    `${r} inside the guest, cloud-init's DHCP (link up → lease, its cloud-init.log): ${dhcp === null ? "not found" : `${dhcp.toFixed(2)} s`}`,
  );
  const ping = nsRun(s.outside, ["ping", "-c", "3", "-i", "0.3", "-W", "2", fip], { check: false }).code === 0;
  const checks = guestChecks({ ssh, name, mtu: MTU, floating: ping });
  for (const c of checks) line(`${r} check ${c.what}: ${c.ok ? "ok" : "FAILED"} (${c.detail})`);
  // SIGTERM: QEMU runs qemu-ifdown (the port is withdrawn) before the instance is deleted.
  lab.procs.splice(lab.procs.indexOf(qemu), 1);
  await stopProcess(qemu, 10_000);
  s.netlet("delete", name);
  return checks.every((c) => c.ok) && leaseAt !== null && meta.first !== null;
}

let failed = false;
try {
  const image = debianImage();
  const s = await setUp();
  const api = new ApiClient(socket);
  line(`load average at start: ${load()} (${navigator.hardwareConcurrency} cores)`);
  for (let k = 1; k <= runs; k++) if (!(await bootOnce(k, s, image, api))) failed = true;
  line(`load average at end: ${load()}`);
} catch (err) {
  failed = true;
  console.error(`bench failed: ${(err as Error).message}`);
  if (existsSync(agentLog)) console.error(`agent log tail:\n${readFileSync(agentLog, "utf8").slice(-1500)}`);
} finally {
  await cleanup();
}
process.exit(failed ? 1 : 0);
