/**
 * Floating ranges against the subnets of a real host (an agent in its namespace, which reads its
 * interfaces, bridges and routes itself): a pool carved out of the public interface's subnet is
 * accepted; one over the host's gateway, the subnet's network or broadcast address, or another
 * bridge's subnet is refused with one line naming --ip_range, the value and the conflict, and
 * the store is unchanged.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Lab, nsRun, requireNetns, run, waitFor } from "../harness/netns.ts";
import { netletBinary } from "../harness/binary.ts";

describe.skipIf(!requireNetns())("floating ranges and this host's subnets", () => {
  const lab = new Lab();
  const dir = mkdtempSync(join(tmpdir(), "netlet-fip-subnets-"));
  const socket = join(dir, "netlet.sock");
  let bin = "";
  const cli = (...args: string[]) => run([bin, ...args, "--socket", socket], { check: false });

  beforeAll(async () => {
    bin = netletBinary();
    const ns = lab.addNamespace("opfl");
    // The public side: 198.51.100.10/24 on pub0, default gateway 198.51.100.1.
    nsRun(ns, ["ip", "link", "add", "pub0", "type", "veth", "peer", "name", "pub1"]);
    nsRun(ns, ["ip", "addr", "add", "198.51.100.10/24", "dev", "pub0"]);
    nsRun(ns, ["ip", "link", "set", "pub1", "up"]);
    nsRun(ns, ["ip", "link", "set", "pub0", "up"]);
    nsRun(ns, ["ip", "route", "add", "default", "via", "198.51.100.1", "dev", "pub0"]);
    // A bridge netlet does not manage (libvirt's default network, say).
    lab.addBridge(ns, "virbr9", ["192.168.122.1/24"]);
    writeFileSync(
      join(dir, "netlet.conf"),
      `[DEFAULT]\nhost = fl-node\nstate_path = ${dir}/state\nmy_ip = 198.51.100.10\npublic_interface = pub0\n`,
    );
    lab.spawn(ns, [bin, "agent", "--config", join(dir, "netlet.conf"), "--socket", socket]);
    expect(await waitFor(() => cli("status").code === 0, 10000)).toBe(true);
    expect(cli("network-create", "private", "--fixed-range-v4", "10.0.0.0/24").code).toBe(0);
  }, 30_000);
  afterAll(async () => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a pool in the public subnet is accepted; gateway, network, broadcast, another bridge's or a fixed subnet are refused", () => {
    expect(cli("floating", "create", "--pool", "nova", "--ip_range", "198.51.100.64/28").code).toBe(0);
    const before = cli("floating", "list", "--json").stdout;
    expect(JSON.parse(before)).toHaveLength(14);
    for (const [range, why] of [
      ["198.51.100.1", "contains 198.51.100.1, the gateway of this host's subnet 198.51.100.0/24 on pub0"],
      ["198.51.100.0/30", "contains 198.51.100.1, the gateway of this host's subnet 198.51.100.0/24 on pub0"],
      ["198.51.100.0", "contains 198.51.100.0, the network address of this host's subnet 198.51.100.0/24 on pub0"],
      [
        "198.51.100.248/29",
        "contains 198.51.100.255, the broadcast address of this host's subnet 198.51.100.0/24 on pub0",
      ],
      ["198.51.100.10", "contains this host's own address 198.51.100.10 on pub0"],
      ["192.168.122.128/28", "overlaps bridge virbr9's subnet 192.168.122.0/24 on this host"],
      ["10.0.0.128/28", "overlaps fixed network private (10.0.0.0/24)"],
    ]) {
      const r = cli("floating", "create", "--pool", "nova", "--ip_range", range);
      expect([range, r.code, r.stdout, r.stderr]).toEqual([
        range,
        1,
        "",
        `netlet: --ip_range ${range} ${why} (ip_range)\n`,
      ]);
      expect(cli("floating", "list", "--json").stdout).toBe(before);
    }
  }, 30_000);
});
