/**
 * The real checks inside a fresh network namespace: a new namespace starts with ip_forward = 0
 * (the admin guide's first problem), and a real dnsmasq answering DHCP on the served bridge is
 * found through /proc.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Lab, nsRun, requireNetns, run, stopProcess, uniqueName, waitFor } from "../harness/netns.ts";
import type { DoctorReport } from "../../src/doctor/checks.ts";
import { scanProcesses } from "../../src/doctor/host.ts";

const RUNNER = join(import.meta.dir, "run-doctor.ts");

describe.skipIf(!requireNetns())("netlet doctor in a namespace", () => {
  const lab = new Lab();
  const dir = mkdtempSync(join(tmpdir(), "netlet-doctor-"));
  const bridge = uniqueName("nlbr");
  let ns = "";

  beforeAll(() => {
    ns = lab.addNamespace("nldoc");
    lab.addBridge(ns, bridge, ["10.77.0.1/24"]);
    writeFileSync(
      join(dir, "netlet.conf"),
      [
        "[DEFAULT]",
        `state_path = ${join(dir, "state")}`,
        `flat_network_bridge = ${bridge}`,
        `public_interface = ${bridge}`,
        "",
      ].join("\n"),
    );
  });

  afterAll(async () => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  async function doctor(): Promise<{ code: number; report: DoctorReport; stderr: string }> {
    const p = Bun.spawn(
      [
        "ip",
        "netns",
        "exec",
        ns,
        process.execPath,
        RUNNER,
        "--json",
        "--config",
        join(dir, "netlet.conf"),
        "--socket",
        join(dir, "run", "netlet.sock"),
      ],
      { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
    );
    const [stdout, stderr, code] = await Promise.all([
      new Response(p.stdout).text(),
      new Response(p.stderr).text(),
      p.exited,
    ]);
    return { code, report: JSON.parse(stdout) as DoctorReport, stderr };
  }
  const find = (r: DoctorReport, id: string) => r.checks.find((c) => c.id === id);

  test("ip_forward is 0 in a new namespace: fail with the sysctl fix, exit 1", async () => {
    const { code, report, stderr } = await doctor();
    expect(code).toBe(1);
    expect(report.ok).toBe(false);
    expect(stderr).toContain("doctor: ");
    const fwd = find(report, "ip_forward")!;
    expect(fwd.status).toBe("fail");
    expect(fwd.fix).toStartWith("sysctl -w net.ipv4.ip_forward=1");
    // The rest read the namespace as it is.
    expect(find(report, "nf_tables")?.status).toBe("ok");
    expect(find(report, "kernel-bridge")?.status).toBe("ok");
    expect(find(report, "public_interface")?.status).toBe("ok");
    expect(find(report, "conflicts")?.summary).toContain(bridge);
    expect(find(report, "state_path")?.status).toBe("ok");
    // The text report carries the same finding with a copyable fix line.
    const text = Bun.spawnSync([
      "ip",
      "netns",
      "exec",
      ns,
      process.execPath,
      RUNNER,
      "--config",
      join(dir, "netlet.conf"),
      "--socket",
      join(dir, "run", "netlet.sock"),
    ]);
    expect(text.exitCode).toBe(1);
    expect(text.stdout.toString()).toMatch(/^fail +ip_forward +net\.ipv4\.ip_forward = 0/m);
    expect(text.stdout.toString()).toMatch(/^ +fix: sysctl -w net\.ipv4\.ip_forward=1 && /m);
    // A link-kind probe namespace, if one was needed, is gone.
    expect(run(["ip", "netns", "list"]).stdout).not.toContain("netlet-doctor-");
  }, 30_000);

  test("after sysctl -w net.ipv4.ip_forward=1 the check passes", async () => {
    nsRun(ns, ["sysctl", "-w", "net.ipv4.ip_forward=1"]);
    const { report } = await doctor();
    expect(find(report, "ip_forward")).toEqual({ id: "ip_forward", status: "ok", summary: "net.ipv4.ip_forward = 1" });
  }, 30_000);

  test("a dnsmasq answering DHCP on the bridge is found, with its pid", async () => {
    const dnsmasq = lab.spawn(ns, [
      "dnsmasq",
      "--keep-in-foreground",
      "--conf-file=/dev/null",
      "--port=0",
      `--interface=${bridge}`,
      "--bind-interfaces",
      "--dhcp-range=10.77.0.10,10.77.0.20,1h",
      `--dhcp-leasefile=${join(dir, "leases")}`,
      `--pid-file=${join(dir, "dnsmasq.pid")}`,
    ]);
    // Listening on UDP 67 inside the namespace means it is up.
    await waitFor(() => nsRun(ns, ["ss", "-Hlun", "sport = :67"], { check: false }).stdout.trim() !== "", 5000);
    const { code, report } = await doctor();
    expect(code).toBe(1);
    const c = find(report, "dhcp-conflict")!;
    expect(c.status).toBe("fail");
    expect(c.summary).toContain(`dnsmasq (pid ${dnsmasq.pid}) answers DHCP on ${bridge}`);
    expect(c.fix).toStartWith(`kill ${dnsmasq.pid} and `);
    // Seen from this (another) namespace, that dnsmasq is not on our bridges.
    expect(scanProcesses().map((x) => x.pid)).not.toContain(dnsmasq.pid);
    await stopProcess(dnsmasq);
    const after = await doctor();
    expect(find(after.report, "dhcp-conflict")).toBeUndefined();
    // With ip_forward set and nothing else on the bridge, this namespace passes.
    expect(after.report.checks.filter((x) => x.status === "fail")).toEqual([]);
    expect(after.code).toBe(0);
  }, 30_000);
});
