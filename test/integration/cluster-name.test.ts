/**
 * Cluster identity: two hosts with one node name (a cloned image keeps the hostname). The
 * newcomer refuses to join, naming the conflict and the other host's address; the host already
 * running shows the conflict in `members`, `status` and `doctor`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Lab, requireNetns, run, stopProcess, waitFor } from "../harness/netns.ts";
import { netletBinary } from "../harness/binary.ts";
import { underlayHosts, type AgentHost } from "../harness/agent-hosts.ts";

const DOCTOR = join(import.meta.dir, "..", "doctor", "run-doctor.ts");

describe.skipIf(!requireNetns())("two hosts with the same node name", () => {
  const lab = new Lab();
  const root = mkdtempSync(join(tmpdir(), "netlet-twins-"));
  let hosts: AgentHost[] = [];
  let bin = "";

  function start(h: AgentHost, key: string, joinAddr: string) {
    mkdirSync(h.dir, { recursive: true });
    const conf = join(h.dir, "netlet.conf");
    // Both call themselves "twin", as two hosts cloned from one image would.
    writeFileSync(
      conf,
      `[DEFAULT]\nhost = twin\nmy_ip = ${h.ip}\nstate_path = ${h.dir}\npublic_interface = under0\n[cluster]\nbind = ${h.ip}:7946\njoin = ${joinAddr}\n`,
    );
    writeFileSync(join(h.dir, "cluster.keys"), `${key}\n`, { mode: 0o600 });
    h.proc = lab.spawn(h.ns, [bin, "agent", "--config", conf, "--socket", h.socket], { stderr: "pipe" });
  }
  const cli = (h: AgentHost, ...args: string[]) => run([bin, ...args, "--socket", h.socket], { check: false });

  beforeAll(async () => {
    bin = netletBinary();
    hosts = underlayHosts(lab, ["a", "b"], { net: "10.251.0", root, nsPrefix: "nltw" });
    const key = run([bin, "cluster", "keygen"]).stdout.trim();
    start(hosts[0], key, "");
    expect(await waitFor(() => cli(hosts[0], "status").code === 0, 10000)).toBe(true);
    start(hosts[1], key, `${hosts[0].ip}:7946`);
  }, 60000);
  afterAll(async () => {
    for (const h of hosts) if (h.proc && h.proc.exitCode === null) await stopProcess(h.proc);
    await lab.cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  test("the newcomer refuses to join, naming the conflict and the other host's address", async () => {
    const b = hosts[1];
    expect(await b.proc!.exited).toBe(1);
    const err = await new Response(b.proc!.stderr as ReadableStream).text();
    expect(err).toContain(
      `netlet: another host at ${hosts[0].ip}:7946 already uses the node name twin: this host refused to join; give it a unique name (host = … in netlet.conf) and restart`,
    );
  }, 15000);

  test("the running host shows the conflict in members, status and doctor", async () => {
    const a = hosts[0];
    const members = cli(a, "members");
    expect(members.code).toBe(0);
    expect(members.stdout).toContain(`CONFLICT: the host at ${hosts[1].ip}:7946 also uses the node name twin`);
    const alarms: string[] = JSON.parse(cli(a, "status", "--json").stdout).alarms;
    expect(
      alarms.some((x) =>
        x.startsWith(`cluster.node_name: the host at ${hosts[1].ip}:7946 also uses this node name twin`),
      ),
    ).toBe(true);
    const p = Bun.spawn(["ip", "netns", "exec", a.ns, process.execPath, DOCTOR, "--json", "--socket", a.socket], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const report = JSON.parse(await new Response(p.stdout).text());
    await p.exited;
    expect(report.checks.find((c: { id: string }) => c.id === "alarms").summary).toContain(
      "also uses this node name twin",
    );
  }, 15000);
});
