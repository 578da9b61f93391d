/**
 * Clean up what netlet added: a withdrawn network loses its host addresses, and its bridge when
 * netlet created it (an operator's bridge stays); stopping the agent leaves the dataplane in
 * place; `netlet dataplane flush` removes every table, address and link netlet added.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Lab, nsRun, requireNetns, waitFor } from "../harness/netns.ts";
import { type NamespacedAgent, startNamespacedAgent } from "../harness/agent-in-ns.ts";

describe.skipIf(!requireNetns())("cleaning up what netlet added", () => {
  const lab = new Lab();
  let h: NamespacedAgent;
  const cli = (...args: string[]) => h.cli(...args);
  const link = (name: string) => nsRun(h.ns, ["ip", "-o", "addr", "show", "dev", name], { check: false });
  const tables = () => nsRun(h.ns, ["nft", "list", "tables"]).stdout;

  beforeAll(async () => {
    h = await startNamespacedAgent(lab, {
      prefix: "nlclean",
      name: "clean-node",
      conf: ["my_ip = 192.0.2.10", "public_interface = eth0"],
      veths: [{ name: "eth0", peer: "eth0p" }],
      bridges: [{ name: "nlbrop" }], // the operator's bridge
    });
  }, 60000);
  afterAll(() => lab.cleanup());

  test("network-delete removes the network's address, and the bridge netlet created", async () => {
    expect(cli("network-create", "a", "--fixed-range-v4", "10.1.0.0/24", "--bridge", "nlbra").code).toBe(0);
    expect(cli("network-create", "b", "--fixed-range-v4", "10.2.0.0/24", "--bridge", "nlbrop").code).toBe(0);
    expect(cli("boot", "vm1", "--network", "a").code).toBe(0);
    expect(cli("boot", "vm2", "--network", "b").code).toBe(0);
    expect(
      await waitFor(
        () => link("nlbra").stdout.includes("10.1.0.2/24") && link("nlbrop").stdout.includes("10.2.0.2/24"),
        10000,
      ),
    ).toBe(true);
    for (const vm of ["vm1", "vm2"]) expect(cli("delete", vm).code).toBe(0);
    for (const net of ["a", "b"]) expect(cli("network-delete", net).code).toBe(0);
    expect(await waitFor(() => link("nlbra").code !== 0 && !link("nlbrop").stdout.includes("10.2.0."), 10000)).toBe(
      true,
    );
    // The operator's bridge stays, without netlet's address.
    expect(link("nlbrop").code).toBe(0);
  }, 30000);

  test("stopping the agent leaves the dataplane; dataplane flush removes it (refused while the agent runs)", async () => {
    expect(cli("network-create", "c", "--fixed-range-v4", "10.3.0.0/24", "--bridge", "nlbrc").code).toBe(0);
    expect(cli("boot", "vm3", "--network", "c").code).toBe(0);
    expect(cli("floating", "create", "--ip_range", "203.0.113.8/29").code).toBe(0);
    const fip = JSON.parse(cli("floating-ip-create", "--json").stdout).address;
    expect(cli("floating-ip-associate", "vm3", fip).code).toBe(0);
    expect(
      await waitFor(
        () => link("nlbrc").stdout.includes("10.3.0.2/24") && link("eth0").stdout.includes(`${fip}/32`),
        10000,
      ),
    ).toBe(true);
    const { ns, bin, conf, dir } = h;
    const busy = nsRun(ns, [bin, "dataplane", "flush", "--config", conf], { check: false });
    expect(busy.code).toBe(1);
    expect(busy.stderr).toContain(
      `netlet: another agent (pid ${h.proc!.pid}) serves ${dir}/state: stop it first (systemctl stop netlet)`,
    );
    await h.stop();
    expect(tables()).toContain("netlet");
    expect(link("nlbrc").stdout).toContain("10.3.0.2/24");
    const flush = nsRun(ns, [bin, "dataplane", "flush", "--config", conf], { check: false });
    expect([flush.code, flush.stderr]).toEqual([0, ""]);
    expect(flush.stdout).toMatch(/dataplane flush: \d+ removed, 0 failed/);
    expect(tables()).not.toContain("netlet");
    expect(link("nlbrc").code).not.toBe(0);
    expect(link("eth0").stdout).not.toContain(fip);
    expect(link("nlbrop").code).toBe(0);
    // Nothing left: a second flush removes nothing.
    expect(nsRun(ns, [bin, "dataplane", "flush", "--config", conf]).stdout).toContain(
      "dataplane flush: 0 removed, 0 failed",
    );
  }, 30000);
});
