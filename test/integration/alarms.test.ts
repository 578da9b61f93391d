/**
 * Failures stay local and visible: a real agent whose public_interface does not exist still
 * programs its bridges' DHCP, router advertisements and rules, and names the failing step in
 * `netlet status`, /readyz, the netlet_alarm metric and `netlet doctor` (which reads the
 * running agent's configuration, not /etc/netlet/netlet.conf).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Lab, nsRun, requireNetns, waitFor } from "../harness/netns.ts";
import { type NamespacedAgent, startNamespacedAgent } from "../harness/agent-in-ns.ts";
import type { DoctorReport } from "../../src/doctor/checks.ts";

const DOCTOR = join(import.meta.dir, "..", "doctor", "run-doctor.ts");

describe.skipIf(!requireNetns())("a failing step raises its alarm and holds back nothing else", () => {
  const lab = new Lab();
  let h: NamespacedAgent;
  const cli = (...args: string[]) => h.cli(...args);
  const http = (path: string) => h.http(path);

  beforeAll(async () => {
    h = await startNamespacedAgent(lab, {
      prefix: "nlalarm",
      name: "alarm-node",
      confName: "agent.conf",
      conf: ["my_ip = 192.0.2.10", "use_ipv6 = true", "public_interface = nlnothere0"],
      // admin_socket from the file, no --socket: the agent listens where the configuration says.
      socketFrom: "config",
    });
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
  afterAll(() => lab.cleanup());

  test("the other steps are applied: bridge address, RA, DHCP and the nft tables", async () => {
    expect(await waitFor(() => JSON.parse(cli("status", "--json").stdout).alarms.length > 0, 10000)).toBe(true);
    const st = JSON.parse(cli("status", "--json").stdout);
    expect(nsRun(h.ns, ["ip", "-o", "addr", "show", "dev", "br100"]).stdout).toContain(
      `${st.networks[0].host_address}/24`,
    );
    expect(nsRun(h.ns, ["nft", "list", "tables"]).stdout).toContain("netlet");
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
    const p = Bun.spawn(["ip", "netns", "exec", h.ns, process.execPath, DOCTOR, "--json", "--socket", h.socket], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    const report = JSON.parse(stdout) as DoctorReport;
    expect(code).toBe(1);
    expect(report.checks.find((c) => c.id === "config")!.summary).toBe(`the running agent's configuration (${h.conf})`);
    const alarms = report.checks.find((c) => c.id === "alarms")!;
    expect(alarms.status).toBe("fail");
    expect(alarms.summary).toMatch(/reconcile\.\w+: .*nlnothere0/);
    // The public_interface check looked at the agent's interface, not the default eth0.
    expect(report.checks.find((c) => c.id === "public_interface")!.summary).toContain("nlnothere0");
  }, 20000);
});
