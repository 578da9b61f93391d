/**
 * One L2 segment across three hosts, each host serving only its own guests: `netlet lab up`
 * with one VM per host on a flat segment (flat_interface on a switch), dual-stack and IPv4 with
 * share_dhcp_address, and on VXLAN, dual-stack with share_dhcp_address. The three labs are built
 * together, each once for several assertions; guests use real clients (udhcpc, rdisc6, arping,
 * ping).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { netletBinary } from "../harness/binary.ts";
import { nsRun, requireNetns, run, uniqueName } from "../harness/netns.ts";

type Result = { code: number; stdout: string; stderr: string };

interface Vm {
  name: string;
  ns: string;
  host: string;
  mac: string;
  fixed_ip: string;
  ipv6: string;
  dhcp_server: string | null;
  routers: string[];
}
interface Host {
  name: string;
  ns: string;
  pid: number;
}
interface State {
  hosts: Host[];
  vms: Vm[];
  cross_host: { ok: boolean }[];
}

const sh = (ns: string, argv: string[]) => nsRun(ns, argv, { check: false });

/** The same, without blocking: the VMs' clients wait for answers in parallel. */
async function ash(ns: string, argv: string[]): Promise<Result> {
  const p = Bun.spawn(["ip", "netns", "exec", ns, ...argv], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { code, stdout, stderr };
}

/** The host's side of the segment: br100's MAC, first IPv4 address and link-local address. */
function bridgeOf(h: Host): { mac: string; ip4: string; ll: string } {
  const [a] = JSON.parse(sh(h.ns, ["ip", "-j", "addr", "show", "dev", "br100"]).stdout) as {
    address: string;
    addr_info: { family: string; local: string; scope: string }[];
  }[];
  const ip4 = a.addr_info.find((i) => i.family === "inet")!.local;
  const ll = a.addr_info.find((i) => i.family === "inet6" && i.scope === "link")!.local;
  return { mac: a.address, ip4, ll };
}

/** One DHCP exchange without touching the VM's configuration: the server id that answered, or null. */
async function dhcpServerId(vm: Vm): Promise<string | null> {
  const r = await ash(vm.ns, ["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "2", "-T", "1", "-s", "/bin/true"]);
  return /obtained from (\d+\.\d+\.\d+\.\d+)/.exec(r.stdout + r.stderr)?.[1] ?? null;
}

/** Every router that answers a router solicitation from the VM (rdisc6 shows each RA's source). */
async function routersAnswering(vm: Vm): Promise<string[]> {
  const r = await ash(vm.ns, ["rdisc6", "-m", "-r", "1", "-w", "1500", "eth0"]);
  return [...new Set([...r.stdout.matchAll(/^ from (fe80::\S+)/gm)].map((m) => m[1]))].sort();
}

/** MACs answering an ARP request for `ip` from the VM. */
async function arpAnswers(vm: Vm, ip: string): Promise<string[]> {
  const r = await ash(vm.ns, ["arping", "-c", "2", "-w", "2", "-i", "eth0", ip]);
  return [...new Set([...r.stdout.matchAll(/from ([0-9a-f:]{17})/g)].map((m) => m[1]))].sort();
}

const pings = (vm: Vm, to: string) => [1, 2, 3].some(() => sh(vm.ns, ["ping", "-c", "1", "-W", "2", to]).code === 0);

/** `lab up` of every suite, started together: most of a lab's set-up is waiting for agents. */
const starts: (() => void)[] = [];

async function spawnLab(args: string[], env: Record<string, string>): Promise<Result> {
  const p = Bun.spawn([netletBinary(), "lab", ...args], {
    env: { ...process.env, ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { code, stdout, stderr };
}

function labSuite(title: string, o: { vxlan: boolean; v6: boolean; share: boolean }) {
  const flags = [
    ...(o.v6 ? ["--ipv6"] : []),
    ...(o.vxlan ? ["--vxlan"] : []),
    ...(o.share ? ["--share-dhcp-address"] : []),
  ];
  describe(title, () => {
    const env = {
      NETLET_LAB_DIR: mkdtempSync(join(tmpdir(), "netlet-lab-")),
      NETLET_LAB_PREFIX: `${uniqueName("ts")}-`,
    };
    const lab = (...args: string[]) => run([netletBinary(), "lab", ...args], { check: false, env });
    let s: State;
    let up: Result;
    const hostOf = (vm: Vm) => s.hosts.find((h) => h.name === vm.host)!;
    let pending: Promise<Result> | null = null;
    starts.push(() => {
      pending = spawnLab(["up", "--hosts", "3", "--vms", "1", ...flags, "--json"], env);
    });

    beforeAll(async () => {
      up = await pending!;
      s = JSON.parse(up.stdout || "null");
    }, 180_000);
    afterAll(() => {
      lab("down");
      rmSync(env.NETLET_LAB_DIR, { recursive: true, force: true });
    });

    test("lab up succeeds and reports every cross-host ping answered", () => {
      expect(up.stderr).not.toContain("netlet: ");
      expect(up.code).toBe(0);
      expect(s.vms.map((v) => v.host)).toEqual(["host1", "host2", "host3"]);
      expect(s.cross_host.length).toBe(o.v6 ? 4 : 2);
      expect(s.cross_host.every((c) => c.ok)).toBe(true);
    });

    test(`every VM reaches every VM on the other hosts, by fixed IPv4${o.v6 ? " and IPv6" : ""}`, () => {
      const missed: string[] = [];
      for (const a of s.vms)
        for (const b of s.vms) {
          if (a === b) continue;
          for (const to of o.v6 ? [b.fixed_ip, b.ipv6] : [b.fixed_ip])
            if (!pings(a, to)) missed.push(`${a.name} -> ${b.name} ${to}`);
        }
      expect(missed).toEqual([]);
    });

    test(`each VM's DHCP server is its own host${o.v6 ? "; its only IPv6 router is its own host's link-local" : ""}`, async () => {
      // All VMs at once: each asks the whole segment (broadcast DHCP, multicast RS).
      const seen = await Promise.all(
        s.vms.map(async (vm) => [await dhcpServerId(vm), o.v6 ? await routersAnswering(vm) : []] as const),
      );
      for (const [i, vm] of s.vms.entries()) {
        const br = bridgeOf(hostOf(vm));
        expect(vm.dhcp_server).toBe(br.ip4);
        expect(seen[i][0]).toBe(br.ip4);
        if (!o.v6) continue;
        // Solicited: every router on the segment that can hear the VM answers it.
        expect(seen[i][1]).toEqual([br.ll]);
        expect(vm.routers).toEqual([br.ll]);
      }
      const servers = new Set(s.hosts.map((h) => bridgeOf(h).ip4));
      expect(servers.size).toBe(o.share ? 1 : 3);
    }, 60_000);

    test("the gateway addresses resolve to the local host's MAC on every host", async () => {
      const arp = await Promise.all(s.vms.map((vm) => arpAnswers(vm, bridgeOf(hostOf(vm)).ip4)));
      for (const [i, vm] of s.vms.entries()) {
        const br = bridgeOf(hostOf(vm));
        expect(arp[i]).toEqual([br.mac]);
        if (!o.v6) continue;
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
        for (let i = 0; i < 50 && sh(s.hosts[2].ns, ["sh", "-c", `kill -0 ${s.hosts[2].pid}`]).code === 0; i++)
          await Bun.sleep(100);
      };
      await gone();
      const unserved = async () =>
        expect(await Promise.all([dhcpServerId(vm3), o.v6 ? routersAnswering(vm3) : []])).toEqual([null, []]);
      await unserved();
      // Even with that host's own rules gone, the neighbours keep its guest's requests out.
      sh(s.hosts[2].ns, ["nft", "delete", "table", "bridge", "netlet"]);
      await unserved();
      const others = await Promise.all(
        [vm1, vm2].map(async (vm) => [await dhcpServerId(vm), o.v6 ? await routersAnswering(vm) : null]),
      );
      expect(others).toEqual(
        [vm1, vm2].map((vm) => [bridgeOf(hostOf(vm)).ip4, o.v6 ? [bridgeOf(hostOf(vm)).ll] : null]),
      );
      expect(pings(vm1, vm2.fixed_ip)).toBe(true);
    }, 60_000);
  });
}

describe.skipIf(!requireNetns())("one segment across three hosts, local service", () => {
  beforeAll(() => {
    netletBinary();
    for (const start of starts) start();
  }, 120_000);
  labSuite("flat segment (flat_interface on a switch), dual-stack", { vxlan: false, v6: true, share: false });
  labSuite("flat segment, IPv4, share_dhcp_address", { vxlan: false, v6: false, share: true });
  labSuite("VXLAN segment, dual-stack, share_dhcp_address", { vxlan: true, v6: true, share: true });
});
