/**
 * Floating ranges against the subnets of a real host (an agent in its namespace, which reads its
 * interfaces, bridges and routes itself): a pool carved out of the public interface's subnet is
 * accepted; one over the host's gateway, the subnet's network or broadcast address, or another
 * bridge's subnet is refused with one line naming --ip_range, the value and the conflict, and
 * the store is unchanged.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Lab, nsRun, requireNetns } from "../harness/netns.ts";
import { type NamespacedAgent, startNamespacedAgent } from "../harness/agent-in-ns.ts";

describe.skipIf(!requireNetns())("floating ranges and this host's subnets", () => {
  const lab = new Lab();
  let h: NamespacedAgent;
  const cli = (...args: string[]) => h.cli(...args);

  beforeAll(async () => {
    h = await startNamespacedAgent(lab, {
      prefix: "opfl",
      name: "fl-node",
      conf: ["my_ip = 198.51.100.10", "public_interface = pub0"],
      // The public side: 198.51.100.10/24 on pub0, default gateway 198.51.100.1.
      veths: [{ name: "pub0", peer: "pub1", addrs: ["198.51.100.10/24"] }],
      // A bridge netlet does not manage (libvirt's default network, say).
      bridges: [{ name: "virbr9", addrs: ["192.168.122.1/24"] }],
      setup: (ns) => nsRun(ns, ["ip", "route", "add", "default", "via", "198.51.100.1", "dev", "pub0"]),
    });
    expect(cli("network-create", "private", "--fixed-range-v4", "10.0.0.0/24").code).toBe(0);
  }, 30_000);
  afterAll(() => lab.cleanup());

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
