/** The real binary: `netlet agent` in a namespace, driven through the CLI verbs over its socket. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Lab, nsRun, requireNetns } from "../harness/netns.ts";
import { type NamespacedAgent, startNamespacedAgent } from "../harness/agent-in-ns.ts";

describe.skipIf(!requireNetns())("netlet CLI against a running agent", () => {
  const lab = new Lab();
  let h: NamespacedAgent;
  const cli = (...args: string[]) => h.cli(...args);

  beforeAll(async () => {
    h = await startNamespacedAgent(lab, {
      prefix: "nlcli",
      name: "cli-node",
      conf: ["my_ip = 192.0.2.10", "frobnicate = 1"],
      stderr: "pipe",
    });
  });
  afterAll(() => lab.cleanup());

  test("the seed's workflow: network, keypair, secgroup rules, boot, floating IP, with tables and --json", () => {
    expect(
      cli(
        "network-create",
        "private",
        "--fixed-range-v4",
        "10.0.0.0/24",
        "--fixed-range-v6",
        "fd00:7::/64",
        "--dns1",
        "192.0.2.53",
      ).code,
    ).toBe(0);
    const list = cli("network-list");
    expect(list.stdout).toMatch(/\| id\s+\| label\s+\| IPv4/);
    expect(list.stdout).toContain("10.0.0.0/24");
    const { dir } = h;
    const pub = join(dir, "key.pub");
    writeFileSync(pub, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl demo@host\n");
    expect(cli("keypair-add", "mykey", "--pub-key", pub).code).toBe(0);
    // The README's order: the default group exists before any boot.
    expect(cli("secgroup-add-rule", "default", "icmp", "-1", "-1", "0.0.0.0/0").code).toBe(0);
    expect(cli("secgroup-add-rule", "default", "tcp", "22", "22", "0.0.0.0/0").code).toBe(0);
    writeFileSync(join(dir, "ud"), "#cloud-config\n");
    const boot = cli(
      "boot",
      "vm1",
      "--key-name",
      "mykey",
      "--user-data",
      join(dir, "ud"),
      "--meta",
      "role=web",
      "--json",
    );
    expect(boot.code).toBe(0);
    const inst = JSON.parse(boot.stdout);
    expect(inst.ports[0].address).toBe("10.0.0.3");
    expect(inst.key_name).toBe("mykey");
    const rules = cli("secgroup-list-rules", "default").stdout;
    expect(rules).toMatch(/\| icmp\s+\| -1\s+\| -1\s+\| 0\.0\.0\.0\/0/);
    expect(rules).toMatch(/\| tcp\s+\| 22\s+\| 22\s+\| 0\.0\.0\.0\/0/);
    expect(cli("floating", "create", "--pool", "nova", "--ip_range", "203.0.113.0/29").code).toBe(0);
    const fip = JSON.parse(cli("floating-ip-create", "nova", "--json").stdout);
    expect(cli("floating-ip-associate", "vm1", fip.address).code).toBe(0);
    const floating = JSON.parse(cli("floating", "list", "--json").stdout);
    expect(floating.find((f: { address: string }) => f.address === fip.address).fixed_address).toBe("10.0.0.3");
    expect(JSON.parse(cli("list", "--json").stdout).map((i: { name: string }) => i.name)).toEqual(["vm1"]);
  });

  test("rejected input: exit code, one clear line naming the argument, store unchanged", () => {
    const before = [
      cli("network-list", "--json").stdout,
      cli("list", "--json").stdout,
      cli("floating", "list", "--json").stdout,
    ];
    const cases: [string[], number, RegExp][] = [
      [["network-create", "dup", "--fixed-range-v4", "10.0.0.128/25"], 1, /overlaps existing network 10\.0\.0\.0\/24/],
      [
        ["network-create", "x", "--fixed-range-v4", "10.5.0.0/24", "--fixed-cidr", "10.6.0.0/24"],
        2,
        /--fixed-cidr 10\.6\.0\.0\/24 is not inside/,
      ],
      [
        ["network-create", "x", "--fixed-range-v4", "10.5.0.0/24", "--mtu", "9"],
        2,
        /--mtu 9: expected an integer from 576 to 65535/,
      ],
      [["boot", "vm2", "--fixed-ip", "10.0.0.3"], 1, /fixed IP 10\.0\.0\.3 is already in use/],
      [["boot", "vm2", "--network", "nope"], 1, /network nope not found/],
      [["boot", "vm2", "--mac", "not-a-mac"], 2, /--mac not-a-mac is not a MAC address/],
      [["fixed", "reserve", "--address", "10.9.9.9"], 1, /fixed IP 10\.9\.9\.9 not found/],
      [["floating-ip-associate", "ghost", "203.0.113.2"], 1, /instance ghost not found/],
      [
        ["secgroup-add-rule", "default", "tcp", "0", "22", "0.0.0.0/0"],
        2,
        /FROM 0: expected an integer from 1 to 65535/,
      ],
    ];
    for (const [args, code, msg] of cases) {
      const r = cli(...args);
      expect([args.join(" "), r.code]).toEqual([args.join(" "), code]);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
    }
    expect([
      cli("network-list", "--json").stdout,
      cli("list", "--json").stdout,
      cli("floating", "list", "--json").stdout,
    ]).toEqual(before);
  }, 30_000);

  test("a second agent on the same state_path or socket is refused, and the first keeps its socket", async () => {
    const { ns, bin, dir, socket } = h;
    const pid = h.proc!.pid;
    // Same configuration: the state directory is locked.
    const sameState = lab.spawn(
      ns,
      [bin, "agent", "--config", join(dir, "netlet.conf"), "--socket", join(dir, "other.sock")],
      { stderr: "pipe" },
    );
    expect(await sameState.exited).toBe(1);
    expect(await new Response(sameState.stderr as ReadableStream).text()).toContain(
      `\nnetlet: another agent (pid ${pid}) serves ${dir}/state: stop it first, or give this one another state_path`,
    );
    // Another state directory, the same socket: the live socket is not taken over.
    writeFileSync(
      join(dir, "second.conf"),
      `[DEFAULT]\nhost = cli-node-2\nstate_path = ${dir}/state2\nmy_ip = 192.0.2.11\n`,
    );
    const sameSocket = lab.spawn(ns, [bin, "agent", "--config", join(dir, "second.conf"), "--socket", socket], {
      stderr: "pipe",
    });
    expect(await sameSocket.exited).toBe(1);
    expect(await new Response(sameSocket.stderr as ReadableStream).text()).toContain(
      `netlet: another agent serves the admin socket ${socket}`,
    );
    // The first agent still answers on its socket.
    const st = JSON.parse(cli("status", "--json").stdout);
    expect(st.node.id).toBe("cli-node");
  }, 30_000);

  test("SIGHUP reloads the file: live options apply, restart-only ones are named in the log", async () => {
    h.writeConf(["my_ip = 192.0.2.10", "dhcp_lease_time = 600", "metadata_listen_port = 9999"]);
    h.proc!.kill("SIGHUP");
    await Bun.sleep(500);
    expect(cli("status").code).toBe(0);
  });

  test("SIGTERM stops the agent cleanly and removes its socket; the config warning was logged", async () => {
    const agent = h.proc!;
    await h.stop();
    expect(agent.exitCode).toBe(0);
    expect(await Bun.file(h.socket).exists()).toBe(false);
    const err = await new Response(agent.stderr as ReadableStream).text();
    expect(err).toContain("unknown key frobnicate");
    expect(err).toMatch(/msg="config reloaded" applied=dhcp_lease_time needs_restart=metadata_listen_port/);
    expect(nsRun(h.ns, ["true"]).code).toBe(0);
  });
});
