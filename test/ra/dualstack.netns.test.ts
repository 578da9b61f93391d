/**
 * Dual stack from netlet alone: the DHCPv4 service and the RA service run side by side in one
 * host namespace, and one VM gets both its DHCPv4 lease (busybox udhcpc) and its SLAAC address,
 * the EUI-64 address IPAM computes for its MAC.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DhcpHost } from "../../src/dhcp/host.ts";
import { eui64 } from "../../src/net/eui64.ts";
import { Lab, nsRun, requireNetns, waitFor, type Vm } from "../harness/netns.ts";

const BUN = process.execPath;
const RA_FIXTURE = join(import.meta.dir, "fixture-ra.ts");
const DHCP_FIXTURE = join(import.meta.dir, "../dhcp/fixture-server.ts");
const MAC = "02:00:00:00:d5:01";

describe.skipIf(!requireNetns())("dual stack: DHCPv4 lease and SLAAC address on one VM", () => {
  const lab = new Lab();
  const dir = mkdtempSync(join(tmpdir(), "netlet-ra-ds-"));
  let vm: Vm;

  beforeAll(async () => {
    const host = lab.addNamespace("nlrad");
    nsRun(host, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    lab.addBridge(host, "br-ds", ["10.91.0.1/24", "fd00:91::1/64"]);
    const dhcpHost: DhcpHost = {
      mac: MAC,
      networkId: "net-ds",
      address: "10.91.0.10",
      prefixLength: 24,
      router: "10.91.0.1",
      dnsServers: ["10.91.0.1"],
      hostname: "vm-ds",
      domain: "novalocal",
      searchDomains: [],
      mtu: 1450,
      serverId: "10.91.0.1",
      leaseTime: 3600,
      classlessRoutes: [],
      primary: true,
    };
    writeFileSync(join(dir, "dhcp.json"), JSON.stringify([{ bridge: "br-ds", hosts: [dhcpHost] }]));
    writeFileSync(
      join(dir, "ra.json"),
      JSON.stringify({
        bridges: [{ bridge: "br-ds", prefix: "fd00:91::/64", mtu: 1450, rdnss: ["fd00:91::1"], dnssl: ["novalocal"] }],
      }),
    );
    lab.spawn(host, [BUN, DHCP_FIXTURE, join(dir, "dhcp.json")]);
    lab.spawn(host, [BUN, RA_FIXTURE, join(dir, "ra.json"), join(dir, "ra.metrics")]);
    vm = lab.addVm(host, { bridge: "br-ds", mac: MAC });
    nsRun(vm.ns, ["sysctl", "-qw", `net.ipv6.conf.${vm.ifname}.accept_ra=1`]);
  });

  afterAll(async () => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test("udhcpc gets the fixed IPv4 address while the kernel forms the EUI-64 address", async () => {
    // The hook touches IPv4 only, so the SLAAC address survives the lease.
    const hook = join(dir, "udhcpc.sh");
    writeFileSync(
      hook,
      `#!/bin/sh\necho "$1 $ip" >> ${dir}/udhcpc.out\ncase "$1" in bound|renew) ip -4 addr flush dev $interface; ip addr add $ip/$mask dev $interface ;; esac\nexit 0\n`,
    );
    chmodSync(hook, 0o755);
    const r = nsRun(
      vm.ns,
      ["timeout", "20", "busybox", "udhcpc", "-f", "-q", "-n", "-i", vm.ifname, "-t", "5", "-T", "1", "-s", hook],
      { check: false },
    );
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, "udhcpc.out"), "utf8")).toContain("bound 10.91.0.10");
    const want = eui64(MAC, "fd00:91::/64");
    expect(want).toBe("fd00:91::ff:fe00:d501");
    const addrs = () => nsRun(vm.ns, ["ip", "-o", "addr", "show", "dev", vm.ifname]).stdout;
    expect(
      await waitFor(() => addrs().includes(`${want}/64 scope global`) && !addrs().includes("tentative"), 15_000),
    ).toBe(true);
    expect(addrs()).toContain("inet 10.91.0.10/24");
    expect(nsRun(vm.ns, ["ip", "-6", "route", "show", "default"]).stdout).toMatch(
      /^default via fe80::.* proto ra .*mtu 1450/m,
    );
    // Both stacks reach the host over the bridge.
    expect(nsRun(vm.ns, ["ping", "-c", "1", "-W", "2", "10.91.0.1"], { check: false }).code).toBe(0);
    expect(nsRun(vm.ns, ["ping", "-6", "-c", "1", "-W", "2", "fd00:91::1"], { check: false }).code).toBe(0);
  });
});
