/**
 * One L2 segment across three hosts, each host serving only its own guests: `netlet lab up`
 * with a flat segment (flat_interface on a switch) and with VXLAN, dual-stack, one VM per host.
 * Each lab is built once and serves several assertions; guests use real clients (udhcpc,
 * rdisc6, arping, ping).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { netletBinary } from "../harness/binary.ts";
import { nsRun, requireNetns, run, uniqueName } from "../harness/netns.ts";

interface Vm { name: string; ns: string; host: string; mac: string; fixedIp: string; ipv6: string; dhcpServer: string | null; routers: string[] }
interface Host { name: string; ns: string; pid: number }
interface State { hosts: Host[]; vms: Vm[]; crossHost: { ok: boolean }[] }

const sh = (ns: string, argv: string[]) => nsRun(ns, argv, { check: false });

/** The host's side of the segment: br100's MAC, first IPv4 address and link-local address. */
function bridgeOf(h: Host): { mac: string; ip4: string; ll: string } {
  const [a] = JSON.parse(sh(h.ns, ["ip", "-j", "addr", "show", "dev", "br100"]).stdout) as
    { address: string; addr_info: { family: string; local: string; scope: string }[] }[];
  const ip4 = a.addr_info.find((i) => i.family === "inet")!.local;
  const ll = a.addr_info.find((i) => i.family === "inet6" && i.scope === "link")!.local;
  return { mac: a.address, ip4, ll };
}

/** One DHCP exchange without touching the VM's configuration: the server id that answered, or null. */
function dhcpServerId(vm: Vm): string | null {
  const r = sh(vm.ns, ["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "2", "-T", "1", "-s", "/bin/true"]);
  return /obtained from (\d+\.\d+\.\d+\.\d+)/.exec(r.stdout + r.stderr)?.[1] ?? null;
}

/** Every router that answers a router solicitation from the VM (rdisc6 shows each RA's source). */
function routersAnswering(vm: Vm): string[] {
  const r = sh(vm.ns, ["rdisc6", "-m", "-r", "1", "-w", "1500", "eth0"]);
  return [...new Set([...r.stdout.matchAll(/^ from (fe80::\S+)/gm)].map((m) => m[1]))].sort();
}

/** MACs answering an ARP request for `ip` from the VM. */
function arpAnswers(vm: Vm, ip: string): string[] {
  const r = sh(vm.ns, ["arping", "-c", "2", "-w", "2", "-i", "eth0", ip]);
  return [...new Set([...r.stdout.matchAll(/from ([0-9a-f:]{17})/g)].map((m) => m[1]))].sort();
}

const pings = (vm: Vm, to: string) => [1, 2, 3].some(() => sh(vm.ns, ["ping", "-c", "1", "-W", "2", to]).code === 0);

function labSuite(title: string, flags: string[], share: boolean) {
  describe(title, () => {
    const env = { NETLET_LAB_DIR: mkdtempSync(join(tmpdir(), "netlet-lab-")), NETLET_LAB_PREFIX: `${uniqueName("ts")}-` };
    const lab = (...args: string[]) => run([netletBinary(), "lab", ...args], { check: false, env });
    let s: State;
    let up: { code: number; stdout: string; stderr: string };
    const hostOf = (vm: Vm) => s.hosts.find((h) => h.name === vm.host)!;

    beforeAll(() => {
      up = lab("up", "--hosts", "3", "--vms", "1", "--ipv6", ...flags, "--json");
      s = JSON.parse(up.stdout || "null");
    }, 120_000);
    afterAll(() => {
      lab("down");
      rmSync(env.NETLET_LAB_DIR, { recursive: true, force: true });
    });

    test("lab up succeeds and reports every cross-host ping answered", () => {
      expect(up.stderr).not.toContain("netlet: ");
      expect(up.code).toBe(0);
      expect(s.vms.map((v) => v.host)).toEqual(["host1", "host2", "host3"]);
      expect(s.crossHost.length).toBe(4);
      expect(s.crossHost.every((c) => c.ok)).toBe(true);
    });

    test("every VM reaches every VM on the other hosts, by fixed IPv4 and IPv6", () => {
      const missed: string[] = [];
      for (const a of s.vms) for (const b of s.vms) {
        if (a === b) continue;
        for (const to of [b.fixedIp, b.ipv6]) if (!pings(a, to)) missed.push(`${a.name} -> ${b.name} ${to}`);
      }
      expect(missed).toEqual([]);
    });

    test("each VM's DHCP server is its own host; its only IPv6 router is its own host's link-local", () => {
      for (const vm of s.vms) {
        const br = bridgeOf(hostOf(vm));
        expect(vm.dhcpServer).toBe(br.ip4);
        expect(dhcpServerId(vm)).toBe(br.ip4);
        // Solicited: every router on the segment that can hear the VM answers it.
        expect(routersAnswering(vm)).toEqual([br.ll]);
        expect(vm.routers).toEqual([br.ll]);
      }
      const servers = new Set(s.hosts.map((h) => bridgeOf(h).ip4));
      expect(servers.size).toBe(share ? 1 : 3);
    }, 60_000);

    test("the gateway addresses resolve to the local host's MAC on every host", () => {
      for (const vm of s.vms) {
        const br = bridgeOf(hostOf(vm));
        expect(arpAnswers(vm, br.ip4)).toEqual([br.mac]);
        // The IPv6 gateway address is on every host's bridge: neighbour discovery stays local too.
        const gw6 = `${vm.ipv6.split("::")[0]}::1`;
        expect(pings(vm, gw6)).toBe(true);
        expect(sh(vm.ns, ["ip", "-6", "neigh", "show", gw6, "dev", "eth0"]).stdout).toContain(`lladdr ${br.mac}`);
      }
    }, 60_000);

    test("a host whose agent stopped: its guest is served by no neighbour, the others are unaffected", async () => {
      const [vm1, vm2, vm3] = s.vms;
      process.kill(s.hosts[2].pid, "SIGTERM");
      const gone = async () => {
        for (let i = 0; i < 50 && sh(s.hosts[2].ns, ["sh", "-c", `kill -0 ${s.hosts[2].pid}`]).code === 0; i++) await Bun.sleep(100);
      };
      await gone();
      expect(dhcpServerId(vm3)).toBeNull();
      expect(routersAnswering(vm3)).toEqual([]);
      // Even with that host's own rules gone, the neighbours keep its guest's requests out.
      sh(s.hosts[2].ns, ["nft", "delete", "table", "bridge", "netlet"]);
      expect(dhcpServerId(vm3)).toBeNull();
      expect(routersAnswering(vm3)).toEqual([]);
      for (const vm of [vm1, vm2]) {
        const br = bridgeOf(hostOf(vm));
        expect(dhcpServerId(vm)).toBe(br.ip4);
        expect(routersAnswering(vm)).toEqual([br.ll]);
      }
      expect(pings(vm1, vm2.fixedIp)).toBe(true);
    }, 60_000);
  });
}

describe.skipIf(!requireNetns())("one segment across three hosts, local service", () => {
  labSuite("flat segment (flat_interface on a switch), dual-stack", [], false);
  labSuite("VXLAN segment, dual-stack, share_dhcp_address", ["--vxlan", "--share-dhcp-address"], true);
});
