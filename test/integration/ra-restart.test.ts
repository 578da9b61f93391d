/**
 * Restarts that don't hurt guests: a real agent stopped by SIGTERM (what a restart or upgrade
 * sends) leaves the guests' IPv6 default route in place; `netlet agent --shutdown` withdraws it
 * with a zero router lifetime; so does the unit's ExecStop (`netlet agent-stop`) when systemd's job
 * for the unit is a stop, and not when it is a restart; ra_router_lifetime sets the advertised lifetime.
 * systemd does not run in the test machine: a `systemctl` first in PATH answers `list-jobs` as
 * systemd would, and records how it was asked.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { Lab, nsRun, requireNetns, run, waitFor, type Vm } from "../harness/netns.ts";
import { type NamespacedAgent, startNamespacedAgent } from "../harness/agent-in-ns.ts";

describe.skipIf(!requireNetns())("router advertisements across agent restarts", () => {
  const lab = new Lab();
  let h: NamespacedAgent;
  let vm: Vm;
  const cli = (...args: string[]) => h.cli(...args);
  /** The guest's IPv6 default route as the kernel learned it from our RAs ("" when none). */
  const defaultRoute = () => nsRun(vm.ns, ["ip", "-6", "route", "show", "default"], { check: false }).stdout.trim();
  /** The unit's ExecStop= while systemd runs a job of type `job` for it. */
  const execStop = (job: string) =>
    run([h.bin, "agent-stop", "--socket", h.socket], {
      check: false,
      env: { PATH: `${h.dir}/bin:${process.env.PATH}`, FAKE_JOB: job },
    });
  const expiresIn = () => Number(/expires (\d+)sec/.exec(defaultRoute())?.[1] ?? -1);

  beforeAll(async () => {
    h = await startNamespacedAgent(lab, {
      prefix: "oprar",
      name: "ra-node",
      conf: ["my_ip = 192.0.2.10", "use_ipv6 = true", "public_interface = nlpub0", "ra_router_lifetime = 120"],
      bridges: [{ name: "br100" }],
      veths: [{ name: "nlpub0", peer: "nlpub1" }],
      setup: (ns, dir) => {
        vm = lab.addVm(ns, { bridge: "br100", mac: "fa:16:3e:00:00:21", prefix: "opvm" });
        mkdirSync(`${dir}/bin`);
        writeFileSync(
          `${dir}/bin/systemctl`,
          `#!/bin/sh\necho "$*" >> ${dir}/systemctl.args\nprintf '%s\\n' "  77 netlet.service $FAKE_JOB running" "  78 other.service stop waiting"\n`,
          { mode: 0o755 },
        );
      },
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
    // A host serves a multi_host network once one of its instances is on it.
    expect(cli("boot", "vm1", "--network", "private", "--mac", vm.mac, "--port", vm.hostIf).code).toBe(0);
  }, 60000);
  afterAll(() => lab.cleanup());

  test("the guest learns a default route with the configured router lifetime", async () => {
    expect(await waitFor(() => defaultRoute() !== "", 20000, 200)).toBe(true);
    // ra_router_lifetime = 120 (the default would be 30 s).
    expect(expiresIn()).toBeGreaterThan(60);
  }, 30000);

  test("a systemd restart: agent-stop sees the restart job and leaves the agent; SIGTERM sends no zero-lifetime RA: the guest keeps its route", async () => {
    const r = execStop("restart");
    expect([r.code, r.stdout.trim()]).toEqual([
      0,
      "netlet.service: job restart: the agent keeps its guests' IPv6 routes and stops on SIGTERM",
    ]);
    expect(readFileSync(`${h.dir}/systemctl.args`, "utf8")).toBe("list-jobs --no-legend --no-pager netlet.service\n");
    const agent = h.proc!;
    await Bun.sleep(300);
    expect(agent.exitCode).toBeNull();
    await h.stop();
    expect(agent.exitCode).toBe(0);
    await Bun.sleep(500); // a final RA would have arrived by now
    expect(defaultRoute()).not.toBe("");
    expect(expiresIn()).toBeGreaterThan(60);
  }, 15000);

  test("netlet agent --shutdown withdraws the router: the guest drops the route at once", async () => {
    const agent = await h.start();
    const r = cli("agent", "--shutdown");
    expect([r.code, r.stdout.trim()]).toEqual([
      0,
      "agent stopped; its networks' routers were withdrawn (router lifetime 0)",
    ]);
    expect(await agent.exited).toBe(0);
    expect(await waitFor(() => defaultRoute() === "", 5000, 100)).toBe(true);
  }, 30000);

  test("a systemd stop: agent-stop sees the stop job, the agent withdraws its router and exits", async () => {
    const agent = await h.start();
    expect(await waitFor(() => defaultRoute() !== "", 20000, 200)).toBe(true);
    const r = execStop("stop");
    expect([r.code, r.stdout.trim()]).toEqual([
      0,
      "agent stopped; its networks' routers were withdrawn (router lifetime 0)",
    ]);
    expect(await agent.exited).toBe(0);
    expect(await waitFor(() => defaultRoute() === "", 5000, 100)).toBe(true);
    // With no agent left, the stop that follows has nothing to withdraw and does not fail.
    expect(execStop("stop").stdout).toContain("nothing to withdraw");
  }, 40000);
});
