/**
 * The README's Quick start, command by command in its printed order, against a fresh agent in a
 * namespace: every command must succeed (paths to this machine's files are swapped for
 * temporary ones; `netlet agent &` is the agent this test starts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Lab, nsRun, requireNetns, run } from "../harness/netns.ts";
import { type NamespacedAgent, startNamespacedAgent } from "../harness/agent-in-ns.ts";

/** The first sh block after "## Quick start": one command a line, comments and blank lines dropped. */
export function quickStart(readme: string): string[] {
  const section = readme.slice(readme.indexOf("## Quick start"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1];
  return block
    .split("\n")
    .map((l) => l.replace(/\s+#.*$/, "").trim())
    .filter(Boolean);
}

describe.skipIf(!requireNetns())("README Quick start", () => {
  const lab = new Lab();
  let h: NamespacedAgent;
  const commands = quickStart(readFileSync(join(import.meta.dir, "..", "..", "README.md"), "utf8"));
  const swap = (arg: string) =>
    arg.replace("~/.ssh/id_ed25519.pub", join(h.dir, "key.pub")).replace("./cloud-config", join(h.dir, "cloud-config"));

  beforeAll(async () => {
    // The agent starts where the README runs `netlet agent`.
    h = await startNamespacedAgent(lab, {
      prefix: "nlreadme",
      veths: [{ name: "eth0", peer: "eth0p" }],
      setup: (_ns, dir) => {
        writeFileSync(
          join(dir, "key.pub"),
          "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl demo@host\n",
        );
        writeFileSync(join(dir, "cloud-config"), "#cloud-config\n");
      },
      start: false,
    });
  }, 60000);
  afterAll(() => lab.cleanup());

  test("every command succeeds in the printed order", async () => {
    const { bin, dir, ns, socket } = h;
    expect(commands.length).toBeGreaterThan(10);
    for (const line of commands) {
      const argv = line.split(/\s+/);
      if (argv[0] === "mkdir") continue;
      expect(argv[0]).toBe("netlet");
      if (argv[1] === "config" && argv[2] === "sample") {
        // The sample, with this test's state directory and address, is the agent's configuration.
        const sample = run([bin, "config", "sample"]).stdout;
        writeFileSync(
          join(dir, "netlet.conf"),
          `${sample}\n[DEFAULT]\nstate_path = ${dir}/state\nmy_ip = 192.0.2.10\nhost = readme-node\n`,
        );
        expect(run([bin, "config", "check", "--config", join(dir, "netlet.conf")], { check: false }).code).toBe(0);
        continue;
      }
      if (argv[1] === "agent") {
        await h.start();
        continue;
      }
      const args = argv.slice(1).map(swap);
      if (argv[1] === "doctor") {
        // doctor reads the host it runs on: run it in the agent's namespace. It exits 1 when a
        // check fails (a fresh namespace has ip_forward = 0); it must still print its report.
        const r = nsRun(ns, [bin, ...args, "--socket", socket], { check: false });
        expect([line, r.code <= 1, r.stdout.includes("ip_forward")]).toEqual([line, true, true]);
        continue;
      }
      const r = run([bin, ...args, "--socket", socket], { check: false });
      expect([line, r.code, r.stderr.replace(/^netlet: warning: .*\n/gm, "")]).toEqual([line, 0, ""]);
    }
  }, 60000);
});
