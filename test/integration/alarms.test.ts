/**
 * Failures stay local and visible: a real agent whose public_interface does not exist still
 * programs its bridges' DHCP, router advertisements and rules, and names the failing step in
 * `netlet status`, /readyz, the netlet_alarm metric and `netlet doctor` (which reads the
 * running agent's configuration, not /etc/netlet/netlet.conf).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Lab, nsRun, requireNetns, run, stopProcess, waitFor } from "../harness/netns.ts";
import { netletBinary } from "../harness/binary.ts";
import type { DoctorReport } from "../../src/doctor/checks.ts";
import type { Subprocess } from "bun";

const DOCTOR = join(import.meta.dir, "..", "doctor", "run-doctor.ts");

describe.skipIf(!requireNetns())("a failing step raises its alarm and holds back nothing else", () => {
  const lab = new Lab();
  const dir = mkdtempSync(join(tmpdir(), "netlet-alarms-"));
  const socket = join(dir, "netlet.sock");
  const conf = join(dir, "agent.conf");
  let bin = "";
  let ns = "";
  let agent: Subprocess;
  const cli = (...args: string[]) => run([bin, ...args, "--socket", socket], { check: false });
  const http = (path: string) =>
    nsRun(ns, ["curl", "-s", "-w", "\n%{http_code}", `http://127.0.0.1:9775${path}`], { check: false }).stdout;

  beforeAll(async () => {
    bin = netletBinary();
    ns = lab.addNamespace("nlalarm");
    // admin_socket from the file, no --socket: the agent listens where the configuration says.
    writeFileSync(
      conf,
      `[DEFAULT]\nhost = alarm-node\nstate_path = ${dir}/state\nmy_ip = 192.0.2.10\nuse_ipv6 = true\npublic_interface = nlnothere0\nadmin_socket = ${socket}\n`,
    );
    agent = lab.spawn(ns, [bin, "agent", "--config", conf], { stderr: "pipe" });
    expect(await waitFor(() => cli("status").code === 0, 10000)).toBe(true);
    expect(
      cli(
        "network-create",
        "private",
        "--fixed-range-v4",
        "10.0.0.0/24",
        "--fixed-range-v6",
        "fd00:7::/64",
        "--bridge",
        "br100",
      ).code,
    ).toBe(0);
    expect(cli("boot", "vm1", "--network", "private").code).toBe(0);
  }, 60000);
  afterAll(async () => {
    await stopProcess(agent);
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the other steps are applied: bridge address, RA, DHCP and the nft tables", async () => {
    expect(await waitFor(() => JSON.parse(cli("status", "--json").stdout).alarms.length > 0, 10000)).toBe(true);
    const st = JSON.parse(cli("status", "--json").stdout);
    expect(nsRun(ns, ["ip", "-o", "addr", "show", "dev", "br100"]).stdout).toContain(
      `${st.networks[0].host_address}/24`,
    );
    expect(nsRun(ns, ["nft", "list", "tables"]).stdout).toContain("netlet");
    expect(st.networks[0]).toMatchObject({ label: "private", dhcp: "serving" });
    expect(st.networks[0].ra).not.toMatch(/^off/);
  }, 20000);

  test("the alarm is named in status, /readyz and the metric", () => {
    const st = JSON.parse(cli("status", "--json").stdout);
    const alarm = st.alarms.find((a: string) => a.startsWith("reconcile."));
    expect(alarm).toMatch(/nlnothere0/);
    expect(cli("status").stdout).toContain(alarm);
    const ready = http("/readyz");
    expect(ready.endsWith("\n503")).toBe(true);
    expect(ready).toContain(`alarm ${alarm}`);
    const name = alarm.split(":")[0];
    expect(http("/metrics")).toContain(`netlet_alarm{name="${name}"} 1`);
  }, 15000);

  test("doctor reads the running agent's configuration and reports its alarms", async () => {
    const p = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, DOCTOR, "--json", "--socket", socket], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    const report = JSON.parse(stdout) as DoctorReport;
    expect(code).toBe(1);
    expect(report.checks.find((c) => c.id === "config")!.summary).toBe(`the running agent's configuration (${conf})`);
    const alarms = report.checks.find((c) => c.id === "alarms")!;
    expect(alarms.status).toBe("fail");
    expect(alarms.summary).toMatch(/reconcile\.\w+: .*nlnothere0/);
    // The public_interface check looked at the agent's interface, not the default eth0.
    expect(report.checks.find((c) => c.id === "public_interface")!.summary).toContain("nlnothere0");
  }, 20000);
});
