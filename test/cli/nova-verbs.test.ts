/** nova's verbs and spellings against the real admin API on a socket. */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync } from "node:fs";
import { join } from "node:path";
import { servedApp } from "./served-app.ts";

describe("nova's verbs", () => {
  const app = servedApp();
  const cli = (...argv: string[]) => app.cli(...argv, "--socket", app.socket);
  const json = async (...argv: string[]) => {
    const r = await cli(...argv, "--json");
    expect([argv.join(" "), r.code, r.err]).toEqual([argv.join(" "), 0, ""]);
    return JSON.parse(r.out);
  };
  afterAll(() => app.close());

  test("nova's underscore spellings: --fixed_range_v4, --num_networks, --ip_range and --ip-range", async () => {
    expect(
      (
        await cli(
          "network-create",
          "private",
          "--fixed_range_v4",
          "10.0.0.0/24",
          "--num_networks",
          "1",
          "--bridge",
          "br100",
        )
      ).code,
    ).toBe(0);
    expect((await json("network-show", "private")).cidr).toBe("10.0.0.0/24");
    expect((await cli("floating-ip-bulk-create", "--ip-range", "203.0.113.0/29", "--pool", "nova")).code).toBe(0);
    expect((await cli("floating", "create", "--ip_range", "198.51.100.8/30", "--pool", "public")).code).toBe(0);
  });

  test("add-secgroup and remove-secgroup change a booted instance's groups", async () => {
    expect((await cli("secgroup-create", "web", "web servers")).code).toBe(0);
    expect((await cli("boot", "vm1", "--network", "private")).code).toBe(0);
    expect((await json("show", "vm1")).security_groups).toEqual(["default"]);
    expect(await cli("add-secgroup", "vm1", "web")).toEqual({
      code: 0,
      out: "instance vm1: security groups default, web",
      err: "",
    });
    const again = await cli("add-secgroup", "vm1", "web");
    expect([again.code, again.err]).toEqual([1, "netlet: instance vm1 is already in security group web (group)\n"]);
    expect((await cli("remove-secgroup", "vm1", "default")).out).toBe("instance vm1: security groups web");
    expect((await json("show", "vm1")).security_groups).toEqual(["web"]);
    const ghost = await cli("remove-secgroup", "vm1", "default");
    expect([ghost.code, ghost.err]).toEqual([1, "netlet: security group default on instance vm1 not found (group)\n"]);
    // The group is in use now: deleting it is refused, as nova did.
    expect((await cli("secgroup-delete", "web")).err).toContain("in use by vm1");
  });

  test("floating-ip-list, floating-ip-pool-list and floating-ip-bulk-list|delete", async () => {
    expect((await json("floating-ip-pool-list")).map((p: { name: string }) => p.name)).toEqual(["nova", "public"]);
    expect(await json("floating-ip-bulk-list")).toHaveLength(8);
    expect(await json("floating-ip-list")).toEqual([]);
    const fip = await json("floating-ip-create", "nova");
    expect((await json("floating-ip-list")).map((f: { address: string }) => f.address)).toEqual([fip.address]);
    expect((await cli("floating-ip-bulk-delete", "198.51.100.8/30")).out).toBe("deleted 2 floating IP(s)");
    expect((await json("floating-ip-pool-list")).map((p: { name: string }) => p.name)).toEqual(["nova"]);
  });

  test("fixed list --host H lists H's instances with their hostname, as nova-manage did", async () => {
    expect((await cli("boot", "Web Server 2", "--network", "private")).code).toBe(0);
    const ips = await json("fixed", "list", "--host", "node-a");
    const mine = ips.filter((f: { instance_uuid: string | null }) => f.instance_uuid);
    expect(mine.map((f: { hostname: string; instance_host: string }) => [f.hostname, f.instance_host])).toEqual([
      ["vm1", "node-a"],
      ["web-server-2", "node-a"],
    ]);
    const table = (await cli("fixed", "list", "--host", "node-a")).out;
    expect(table).toMatch(/\| network\s+\| IP address\s+\| hostname\s+\| host\s+\|/);
    expect(table).toMatch(/\| 10\.0\.0\.0\/24\s+\| 10\.0\.0\.\d+\s+\| web-server-2\s+\| node-a\s+\|/);
    expect(await json("fixed", "list", "--host", "other-host")).toEqual([]);
  });

  test("boot --nic net-id=…,v4-fixed-ip=…, interface-list, network-disassociate", async () => {
    expect(
      (
        await cli(
          "network-create",
          "second",
          "--fixed-range-v4",
          "10.5.0.0/24",
          "--bridge",
          "br105",
          "--project-id",
          "demo",
        )
      ).code,
    ).toBe(0);
    const r = await cli(
      "boot",
      "multi",
      "--nic",
      "net-id=private",
      "--nic",
      "net-name=second,v4-fixed-ip=10.5.0.50",
      "--project-id",
      "demo",
    );
    expect([r.code, r.err]).toEqual([0, ""]);
    const ports = await json("interface-list", "multi");
    expect(ports.map((p: { network: string; address: string }) => p.network)).toEqual(["private", "second"]);
    expect(ports[1].address).toBe("10.5.0.50");
    expect((await cli("interface-list", "multi")).out).toMatch(/\| second\s+\| 10\.5\.0\.50\s+\| fa:16:3e:/);
    const bad = await cli("boot", "x", "--nic", "net-id=private,v6-fixed-ip=fd00::5");
    expect([bad.code, bad.err]).toEqual([
      2,
      "netlet: --nic net-id=private,v6-fixed-ip=fd00::5: expected net-id=NETWORK or net-name=NETWORK, optionally ,v4-fixed-ip=IP (IPv6 addresses are EUI-64, not chosen)\n",
    ]);
    expect((await cli("boot", "x", "--nic", "net-id=private", "--network", "private")).code).toBe(2);
    expect((await json("network-show", "second")).project_id).toBe("demo");
    expect((await cli("network-disassociate", "second")).out).toBe("network second disassociated from project demo");
    expect((await json("network-show", "second")).project_id).toBeNull();
    expect((await cli("network-disassociate", "second")).code).toBe(1);
  });

  test("multinic after boot: interface-attach/detach, add-fixed-ip/remove-fixed-ip; the address returns to the pool", async () => {
    expect((await cli("boot", "nic1", "--network", "private")).code).toBe(0);
    const attached = await json(
      "interface-attach",
      "nic1",
      "--net-id",
      "second",
      "--fixed-ip",
      "10.5.0.60",
      "--mac",
      "fa:16:3e:00:00:60",
    );
    expect(
      attached.ports
        .map((p: { network: string; address: string; mac: string }) => [p.network, p.address ?? null, p.mac])
        .slice(1),
    ).toEqual([["second", "10.5.0.60", "fa:16:3e:00:00:60"]]);
    const taken = await cli("interface-attach", "nic1", "--net-id", "second", "--fixed-ip", "10.5.0.60");
    expect([taken.code, taken.err]).toEqual([1, "netlet: fixed IP 10.5.0.60 is already in use (address)\n"]);
    expect((await cli("interface-detach", "nic1", "fa:16:3e:00:00:60")).code).toBe(0);
    expect((await json("show", "nic1")).ports).toHaveLength(1);
    expect(
      (await json("fixed", "list", "--network", "second")).find((f: { address: string }) => f.address === "10.5.0.60")
        .instance_uuid,
    ).toBeNull();
    // nova-network's add-fixed-ip / remove-fixed-ip: a port on the network, and away again.
    expect((await cli("add-fixed-ip", "nic1", "second")).out).toMatch(
      /^instance nic1: private=10\.0\.0\.\d+; second=10\.5\.0\.\d+$/,
    );
    const addr = (await json("show", "nic1")).ports[1].address;
    expect((await cli("remove-fixed-ip", "nic1", addr)).out).toMatch(/^instance nic1: ports private=10\.0\.0\.\d+$/);
    const ghost = await cli("remove-fixed-ip", "nic1", "10.5.0.99");
    expect([ghost.code, ghost.err]).toEqual([1, "netlet: port 10.5.0.99 on instance nic1 not found (address)\n"]);
  });

  test("every id a listing shows is accepted by the matching show", async () => {
    const table = (await cli("network-list")).out;
    const ids = [...table.matchAll(/^\| ([0-9a-f-]{36}) \|/gm)].map((m) => m[1]);
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) expect((await cli("network-show", id)).code).toBe(0);
    const servers = [...(await cli("list")).out.matchAll(/^\| ([0-9a-f-]{36}) \|/gm)].map((m) => m[1]);
    expect(servers.length).toBeGreaterThan(0);
    for (const id of servers) expect((await cli("show", id)).code).toBe(0);
  });

  test("network-associate-host NETWORK HOST and network-disassociate [--host-only|--project-only], as nova", async () => {
    expect(
      (
        await cli(
          "network-create",
          "single",
          "--fixed-range-v4",
          "10.7.0.0/24",
          "--bridge",
          "br107",
          "--multi-host",
          "F",
          "--project-id",
          "demo",
        )
      ).code,
    ).toBe(0);
    const r = await cli("network-associate-host", "single", "node-a");
    expect([r.code, r.out]).toEqual([0, "network single associated with host node-a"]);
    expect(r.err).toBe("");
    expect(await json("network-show", "single")).toMatchObject({
      host: "node-a",
      project_id: "demo",
      multi_host: false,
    });
    expect((await cli("network-list")).out).toMatch(/\| single .*\| demo\s+\| node-a\s+\|/);
    const before = await json("network-list");
    for (const [argv, err] of [
      [["network-associate-host", "nope", "node-a"], "netlet: network nope not found (network)\n"],
      [["network-associate-host", "single", "ghost"], "netlet: host ghost not found; known hosts: node-a (host)\n"],
      [
        ["network-associate-host", "private", "node-a"],
        "netlet: network private is multi_host: every host serves its own instances; network-associate-host is for a network created with --multi-host F (network)\n",
      ],
    ] as [string[], string][]) {
      const bad = await cli(...argv);
      expect([argv.join(" "), bad.code, bad.out, bad.err]).toEqual([argv.join(" "), 1, "", err]);
    }
    expect((await cli("network-associate-host", "single")).code).toBe(2);
    expect(await json("network-list")).toEqual(before);
    expect((await cli("network-disassociate", "single", "--host-only")).out).toBe(
      "network single disassociated from host node-a",
    );
    expect((await json("network-show", "single")).project_id).toBe("demo");
    await cli("network-associate-host", "single", "node-a");
    expect((await cli("network-disassociate", "single")).out).toBe(
      "network single disassociated from project demo and host node-a",
    );
    const none = await cli("network-disassociate", "single", "--project-only");
    expect([none.code, none.err]).toEqual([1, "netlet: network single is not associated with a project (network)\n"]);
    expect((await cli("network-disassociate", "single", "--host-only", "--project-only")).code).toBe(2);
  });

  test("service-list: a standalone host lists itself, up", async () => {
    const rows = await json("service-list");
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ binary: "netlet", host: "node-a", zone: "nova", status: "enabled", state: "up" });
  });

  test("typos get the closest verb or option; every error has one netlet: prefix", async () => {
    const verb = await cli("netwrok-list");
    expect([verb.code, verb.err]).toEqual([
      2,
      'netlet: unknown verb "netwrok-list"; did you mean network-list?; run `netlet --help` for the list\n',
    ]);
    const opt = await cli("network-create", "x", "--fixed-rnge-v4", "10.9.0.0/24");
    expect(opt.code).toBe(2);
    expect(opt.err).toBe(
      "netlet: network-create: unknown option --fixed-rnge-v4; did you mean --fixed-range-v4?; see `netlet network-create --help`\n",
    );
    for (const argv of [
      ["boot"],
      ["network-create", "x"],
      ["fixed", "reserve"],
      ["floating", "create"],
      ["secgroup-add-rule", "default", "tcp", "0", "1", "0.0.0.0/0"],
    ]) {
      const r = await cli(...argv);
      expect([argv.join(" "), r.err.startsWith("netlet: "), r.err.includes("netlet: netlet")]).toEqual([
        argv.join(" "),
        true,
        false,
      ]);
      expect(r.err.trim().split("\n")).toHaveLength(1);
    }
  });

  test("netlet lab --help and netlet cluster key --help list their verbs", async () => {
    const lab = await app.cli("lab", "--help");
    expect(lab.code).toBe(0);
    expect(lab.out).toContain("usage: netlet lab VERB");
    expect(lab.out).toContain("lab up");
    expect((await app.cli("cluster", "key", "--help")).out).toContain("cluster key install");
  });

  test("a user who may not open the root-only socket is told so, not EACCES", () => {
    chmodSync(app.dir, 0o755);
    chmodSync(app.socket, 0o600);
    const main = join(import.meta.dir, "..", "..", "src", "main.ts");
    const r = Bun.spawnSync(
      [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        process.execPath,
        main,
        "network-list",
        "--socket",
        app.socket,
      ],
      { stdout: "pipe", stderr: "pipe", env: { ...process.env, HOME: "/tmp" } },
    );
    expect(r.exitCode).toBe(1);
    expect(r.stderr.toString()).toBe(
      `netlet: the agent's socket ${app.socket} is root-only: run as root (e.g. sudo netlet …)\n`,
    );
  });
});
