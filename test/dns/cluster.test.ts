/**
 * Instance DNS across a cluster: two real agents joined by gossip; a guest on host A resolves
 * an instance booted on host B (A, AAAA, PTR) through its own host, and stops resolving it once
 * B deletes it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Lab, nsRun, requireNetns, run, waitFor, type Vm } from "../harness/netns.ts";
import { type AgentHost, startAgent, underlayHosts } from "../harness/agent-hosts.ts";
import { netletBinary } from "../harness/binary.ts";
import { keygen } from "../../src/cluster/keyring.ts";

const KEY = keygen();
const UDHCPC = `#!/bin/sh
case "$1" in bound|renew)
  ip addr flush dev "$interface" scope global; ip addr add "$ip/$mask" dev "$interface"
  { for d in $dns; do echo "nameserver $d"; done; [ -n "$search" ] && echo "search $search"; } > /etc/resolv.conf
  echo "lease ip=$ip dns=$dns" ;;
esac
`;

interface Booted {
  uuid: string;
  ports: { mac: string; address: string; address_v6: string }[];
}

describe.skipIf(!requireNetns())("instance DNS across two cluster hosts", () => {
  const lab = new Lab();
  const root = mkdtempSync(join(tmpdir(), "netlet-dnsc-"));
  const hosts: AgentHost[] = [];
  let vm: Vm;
  let resolver = "";
  let onA: Booted, onB: Booted;
  const cli = (h: AgentHost, ...a: string[]) => run([netletBinary(), ...a, "--socket", h.socket]);
  const dig = (...a: string[]) =>
    nsRun(vm.ns, ["dig", "+time=2", "+tries=1", `@${resolver}`, ...a], { check: false }).stdout;

  beforeAll(async () => {
    hosts.push(...underlayHosts(lab, ["da", "db"], { net: "10.252.0", root, nsPrefix: "nd" }));
    for (const h of hosts) lab.addBridge(h.ns, "br100");
    startAgent(lab, hosts[0], KEY, "");
    startAgent(lab, hosts[1], KEY, `${hosts[0].ip}:7946`);
    for (const h of hosts)
      expect(
        await waitFor(() => run([netletBinary(), "status", "--socket", h.socket], { check: false }).code === 0, 15000),
      ).toBe(true);
    const joined = await waitFor(
      () =>
        JSON.parse(cli(hosts[0], "members", "--json").stdout).filter((m: { state: string }) => m.state === "alive")
          .length === 2,
      15000,
    );
    expect(joined).toBe(true);
    cli(
      hosts[0],
      "network-create",
      "private",
      "--fixed-range-v4",
      "10.31.0.0/24",
      "--fixed-range-v6",
      "fd00:31::/64",
      "--bridge",
      "br100",
    );
    expect(await waitFor(() => cli(hosts[1], "network-list", "--json").stdout.includes("private"), 10000)).toBe(true);
    onA = JSON.parse(cli(hosts[0], "boot", "near", "--network", "private", "--json").stdout);
    onB = JSON.parse(cli(hosts[1], "boot", "far", "--network", "private", "--json").stdout);
    vm = lab.addVm(hosts[0].ns, { bridge: "br100", mac: onA.ports[0].mac });
    cli(hosts[0], "plug", "near", "--port", vm.hostIf);
    mkdirSync(`/etc/netns/${vm.ns}`, { recursive: true });
    writeFileSync(`/etc/netns/${vm.ns}/resolv.conf`, "");
    writeFileSync(join(root, "udhcpc.sh"), UDHCPC, { mode: 0o755 });
  }, 60_000);

  afterAll(async () => {
    await lab.cleanup();
    if (vm) rmSync(`/etc/netns/${vm.ns}`, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  });

  test("a guest on A resolves an instance of B through A (A, AAAA, PTR, glibc)", async () => {
    const lease = await waitFor(
      () =>
        nsRun(
          vm.ns,
          [
            "busybox",
            "udhcpc",
            "-i",
            "eth0",
            "-n",
            "-q",
            "-t",
            "3",
            "-T",
            "1",
            "-s",
            join(root, "udhcpc.sh"),
            "-O",
            "search",
          ],
          { check: false },
        ).stdout,
      15000,
    );
    resolver = /dns=(\S+)/.exec(lease)![1];
    expect(resolver).toMatch(/^10\.31\.0\.\d+$/);
    const a = await waitFor(() => dig("+short", "far.novalocal", "A").trim(), 10000);
    expect(a).toBe(onB.ports[0].address);
    expect(dig("+short", "far.novalocal", "AAAA").trim()).toBe(onB.ports[0].address_v6);
    expect(dig("+short", "-x", onB.ports[0].address).trim()).toBe("far.novalocal.");
    expect(nsRun(vm.ns, ["getent", "ahostsv4", "far"], { check: false }).stdout).toContain(onB.ports[0].address);
  }, 30_000);

  test("deleted on B: the name stops resolving on A", async () => {
    cli(hosts[1], "delete", onB.uuid);
    expect(await waitFor(() => dig("far.novalocal", "A").includes("status: NXDOMAIN"), 10000)).toBe(true);
  }, 20_000);
});
