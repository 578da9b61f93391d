/**
 * Real DHCP clients (busybox udhcpc, ISC dhclient, dhcpcd) against DhcpService in namespaces:
 * a host namespace with bridges br0 and br1 runs test/dhcp/fixture-server.ts; each "VM" is a
 * namespace on a veth into one bridge.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync, rmSync } from "node:fs";
import type { Subprocess } from "bun";
import type { DhcpHost } from "../../src/dhcp/host.ts";
import { Lab, nsRun, requireNetns, stopProcess, uniqueName, waitFor, type Vm } from "../harness/netns.ts";
import {
  dhclientScript,
  dhcpcdConf,
  dhcpcdScript,
  events,
  Lines,
  tempDir,
  udhcpcScript,
  writeTable,
} from "./clients.ts";

const BUN = process.execPath;
const SERVER = `${import.meta.dir}/fixture-server.ts`;

function host(mac: string, address: string, hostname: string, net: 77 | 78): DhcpHost {
  const gw = `10.${net}.0.1`;
  return {
    mac,
    networkId: `net-${net}`,
    address,
    prefixLength: 24,
    router: gw,
    dnsServers: [gw, `10.${net}.0.2`],
    hostname,
    domain: "novalocal",
    searchDomains: ["novalocal", "example.org"],
    mtu: 1450,
    serverId: gw,
    leaseTime: 3600,
    classlessRoutes: [{ destination: "169.254.169.254/32", gateway: gw }],
    primary: true,
  };
}

const U = host("02:00:00:77:00:10", "10.77.0.10", "vmu", 77);
const D = host("02:00:00:77:00:11", "10.77.0.11", "vmd", 77);
const C = host("02:00:00:77:00:12", "10.77.0.12", "vmc", 77);
const R = host("02:00:00:78:00:20", "10.78.0.20", "vmr", 78);
/** Its address is already taken on br0 by a squatter, so the client declines it. */
const X = host("02:00:00:77:00:13", "10.77.0.13", "vmx", 77);
/** Known on br1 only, but plugged into br0. */
const W = host("02:00:00:78:00:21", "10.78.0.21", "vmw", 78);

const table = (br0: DhcpHost[]) => [
  { bridge: "br0", hosts: br0 },
  { bridge: "br1", hosts: [R, W] },
];

function expectFullConfig(vars: Record<string, string>, h: DhcpHost) {
  expect(vars.ip).toBe(h.address);
  expect(vars.subnet).toBe("255.255.255.0");
  expect(vars.router).toBe(h.router!);
  expect(vars.dns).toBe(h.dnsServers.join(" "));
  expect(vars.domain).toBe("novalocal");
  // dhclient writes the names fully qualified ("novalocal.").
  expect(vars.search.replace(/\.( |$)/g, "$1")).toBe("novalocal example.org");
  expect(vars.mtu).toBe("1450");
  expect(vars.serverid).toBe(h.serverId);
  expect(vars.hostname).toBe(`${h.hostname}.novalocal`);
}

describe.skipIf(!requireNetns())("real DHCP clients against DhcpService", () => {
  const lab = new Lab();
  const dir = tempDir();
  const tablePath = `${dir}/hosts.json`;
  let hostNs = "";
  let server: Subprocess;
  let serverOut: Lines;
  const vms: Record<string, Vm> = {};
  let udhcpcU: Subprocess;
  const outU = `${dir}/u.out`;

  async function startServer() {
    server = lab.spawn(hostNs, [BUN, SERVER, tablePath]);
    serverOut = new Lines(server);
    const ready = await serverOut.waitJson((o) => Array.isArray(o.ready));
    expect(ready?.ready.sort()).toEqual(["br0", "br1"]);
  }

  const leaseEvent = (type: string, mac: string) =>
    serverOut.waitJson((o) => o.event?.type === type && o.event?.mac === mac);

  beforeAll(async () => {
    hostNs = lab.addNamespace("nldh");
    lab.addBridge(hostNs, "br0", ["10.77.0.1/24"]);
    lab.addBridge(hostNs, "br1", ["10.78.0.1/24"]);
    for (const [name, h, br] of [
      ["U", U, "br0"],
      ["D", D, "br0"],
      ["C", C, "br0"],
      ["X", X, "br0"],
      ["R", R, "br1"],
      ["W", W, "br0"],
    ] as const) {
      vms[name] = lab.addVm(hostNs, { bridge: br, mac: h.mac, ifname: uniqueName("vc") });
    }
    writeTable(tablePath, table([U, D, C, X]));
    await startServer();
  });

  afterAll(async () => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test("busybox udhcpc gets address, mask, router, DNS, domain, search, MTU, hostname and classless routes", async () => {
    const vm = vms.U;
    udhcpcU = lab.spawn(vm.ns, [
      "busybox",
      "udhcpc",
      "-f",
      "-i",
      vm.ifname,
      "-T",
      "1",
      "-s",
      udhcpcScript(dir, outU),
      "-O",
      "mtu",
      "-O",
      "search",
      "-O",
      "staticroutes",
    ]);
    const bound = await waitFor(() => events(outU).find((e) => e.event === "bound"), 10_000);
    expect(bound).toBeDefined();
    expectFullConfig(bound!.vars, U);
    expect(bound!.vars.staticroutes).toBe("169.254.169.254/32 10.77.0.1 0.0.0.0/0 10.77.0.1");
    expect(bound!.vars.lease).toBe("3600");
    expect(nsRun(vm.ns, ["ip", "-4", "addr", "show", "dev", vm.ifname]).stdout).toContain("10.77.0.10/24");
    expect(await leaseEvent("lease.added", U.mac)).toBeDefined();
  }, 20_000);

  test("ISC dhclient gets the same configuration", async () => {
    const vm = vms.D;
    const out = `${dir}/d.out`;
    const p = lab.spawn(vm.ns, [
      "dhclient",
      "-4",
      "-d",
      "-1",
      "-sf",
      dhclientScript(dir, out),
      "-lf",
      `${dir}/d.leases`,
      "-pf",
      `${dir}/d.pid`,
      vm.ifname,
    ]);
    const bound = await waitFor(() => events(out).find((e) => e.event === "BOUND"), 15_000);
    await stopProcess(p);
    expect(bound).toBeDefined();
    expectFullConfig(bound!.vars, D);
    // dhclient prints RFC 3442 routes as width, significant octets, router.
    expect(bound!.vars.staticroutes).toBe("32 169 254 169 254 10 77 0 1 0 10 77 0 1");
  }, 25_000);

  test("dhcpcd gets the same configuration and installs the classless routes", async () => {
    const vm = vms.C;
    const out = `${dir}/c.out`;
    // A private mount namespace keeps dhcpcd's DUID, lease and pid files off the machine (the
    // directories are dhcpcd's own, compiled-in paths; /run/dhcpcd may not exist yet).
    const cmd = `mkdir -p /var/lib/dhcpcd /run/dhcpcd && mount -t tmpfs none /var/lib/dhcpcd && mount -t tmpfs none /run/dhcpcd && exec dhcpcd -4 -1 -B -c ${dhcpcdScript(dir, out)} -f ${dhcpcdConf(dir)} ${vm.ifname}`;
    const p = lab.spawn(vm.ns, ["unshare", "-m", "sh", "-c", cmd]);
    const bound = await waitFor(() => events(out).find((e) => e.event === "BOUND"), 15_000);
    expect(bound).toBeDefined();
    expectFullConfig(bound!.vars, C);
    expect(bound!.vars.staticroutes).toBe("169.254.169.254/32 10.77.0.1 0.0.0.0/0 10.77.0.1");
    const routes = nsRun(vm.ns, ["ip", "-4", "route"]).stdout;
    expect(routes).toContain("default via 10.77.0.1");
    expect(routes).toContain("169.254.169.254 via 10.77.0.1");
    await stopProcess(p);
  }, 25_000);

  test("dhcpcd finds the offered address in use and DECLINEs it: the server raises lease.declined and the client never binds", async () => {
    const squatter = lab.addVm(hostNs, { bridge: "br0", mac: "02:00:00:77:00:99" });
    nsRun(squatter.ns, ["ip", "addr", "add", "10.77.0.13/24", "dev", squatter.ifname]);
    const vm = vms.X;
    const out = `${dir}/x.out`;
    const conf = `${dir}/dhcpcd-arp.conf`;
    writeFileSync(conf, "option host_name\nrequire dhcp_server_identifier\nnoipv6rs\n");
    const cmd = `mkdir -p /var/lib/dhcpcd /run/dhcpcd && mount -t tmpfs none /var/lib/dhcpcd && mount -t tmpfs none /run/dhcpcd && exec dhcpcd -4 -B -c ${dhcpcdScript(dir, out)} -f ${conf} ${vm.ifname}`;
    const p = lab.spawn(vm.ns, ["unshare", "-m", "sh", "-c", cmd]);
    const declined = await leaseEvent("lease.declined", X.mac);
    await stopProcess(p);
    expect(declined?.event.address).toBe("10.77.0.13");
    expect(events(out).some((e) => e.event === "BOUND")).toBe(false);
  }, 25_000);

  test("a MAC this bridge does not serve (known only on br1) gets nothing", () => {
    const vm = vms.W;
    const out = `${dir}/w.out`;
    const r = nsRun(
      vm.ns,
      ["busybox", "udhcpc", "-f", "-q", "-n", "-i", vm.ifname, "-t", "2", "-T", "1", "-s", udhcpcScript(dir, out)],
      { check: false },
    );
    expect(r.code).not.toBe(0);
    expect(events(out).some((e) => e.event === "bound")).toBe(false);
  }, 15_000);

  test("the second bridge serves its own instance; RELEASE frees the lease", async () => {
    const vm = vms.R;
    const out = `${dir}/r.out`;
    const p = lab.spawn(vm.ns, ["busybox", "udhcpc", "-f", "-i", vm.ifname, "-T", "1", "-s", udhcpcScript(dir, out)]);
    const bound = await waitFor(() => events(out).find((e) => e.event === "bound"), 10_000);
    expect(bound?.vars.ip).toBe("10.78.0.20");
    expect(bound?.vars.serverid).toBe("10.78.0.1");
    p.kill("SIGUSR2");
    expect(await leaseEvent("lease.released", R.mac)).toBeDefined();
    await stopProcess(p);
  }, 20_000);

  test("renew (unicast to the server id) is ACKed", async () => {
    const before = events(outU).length;
    udhcpcU.kill("SIGUSR1");
    const renewed = await waitFor(
      () =>
        events(outU)
          .slice(before)
          .find((e) => e.event === "renew"),
      10_000,
    );
    expect(renewed?.vars.ip).toBe("10.77.0.10");
    expect(await leaseEvent("lease.renewed", U.mac)).toBeDefined();
  }, 15_000);

  test("rebind (broadcast, unicast path blocked) is ACKed", async () => {
    const vm = vms.U;
    const nft = (rule: string) => nsRun(vm.ns, ["nft", rule]);
    nft("add table ip nldhcp");
    nft("add chain ip nldhcp out { type filter hook output priority 0 ; }");
    nft("add rule ip nldhcp out ip daddr 10.77.0.1 udp dport 67 counter drop");
    try {
      const before = events(outU).length;
      udhcpcU.kill("SIGUSR1");
      // Sending the unicast renewal fails, so udhcpc goes straight to REBINDING (broadcast with
      // ciaddr); an ACK there is reported as "renew", a fresh DISCOVER would end in "bound".
      const again = await waitFor(
        () =>
          events(outU)
            .slice(before)
            .find((e) => e.event === "renew" || e.event === "bound"),
        15_000,
      );
      expect(again?.event).toBe("renew");
      expect(again?.vars.ip).toBe("10.77.0.10");
      // The unicast attempt really was blocked, so the answer came through the broadcast path.
      expect(nsRun(vm.ns, ["nft", "list", "table", "ip", "nldhcp"]).stdout).not.toContain("packets 0 ");
    } finally {
      nft("delete table ip nldhcp");
    }
  }, 25_000);

  test("the server restarted mid-lease keeps serving renewals", async () => {
    await stopProcess(server);
    await startServer();
    const before = events(outU).length;
    udhcpcU.kill("SIGUSR1");
    const renewed = await waitFor(
      () =>
        events(outU)
          .slice(before)
          .find((e) => e.event === "renew"),
      10_000,
    );
    expect(renewed?.vars.ip).toBe("10.77.0.10");
    expect(await leaseEvent("lease.added", U.mac)).toBeDefined();
  }, 20_000);

  test("INIT-REBOOT with a stale lease gets a NAK, then the right address", async () => {
    const vm = vms.D;
    const out = `${dir}/d2.out`;
    const lf = `${dir}/d2.leases`;
    writeFileSync(
      lf,
      `lease {\n  interface "${vm.ifname}";\n  fixed-address 10.77.0.99;\n  option subnet-mask 255.255.255.0;\n  option dhcp-server-identifier 10.77.0.1;\n  renew 4 2037/01/01 00:00:00;\n  rebind 4 2037/01/01 00:00:00;\n  expire 4 2037/01/01 00:00:00;\n}\n`,
    );
    nsRun(vm.ns, ["ip", "-4", "addr", "flush", "dev", vm.ifname]);
    const p = lab.spawn(
      vm.ns,
      [
        "dhclient",
        "-4",
        "-d",
        "-v",
        "-1",
        "-sf",
        dhclientScript(dir, out),
        "-lf",
        lf,
        "-pf",
        `${dir}/d2.pid`,
        vm.ifname,
      ],
      { stderr: "pipe" },
    );
    const bound = await waitFor(() => events(out).find((e) => e.event === "BOUND"), 20_000);
    await stopProcess(p);
    const stderr = await new Response(p.stderr as ReadableStream).text();
    expect(stderr).toContain("DHCPREQUEST for 10.77.0.99");
    expect(stderr).toContain("DHCPNAK from 10.77.0.1");
    expect(bound?.vars.ip).toBe("10.77.0.11");
  }, 30_000);

  test("a bridge deleted and re-created gets a fresh socket and is served again", async () => {
    const vm = vms.R;
    nsRun(hostNs, ["ip", "link", "del", "br1"]);
    lab.addBridge(hostNs, "br1", ["10.78.0.1/24"]);
    nsRun(hostNs, ["ip", "link", "set", vm.hostIf, "master", "br1"]);
    // The fixture checks ifindexes every 500 ms; wait until the new socket is bound.
    expect(await waitFor(() => nsRun(hostNs, ["ss", "-ulpn"]).stdout.includes("0.0.0.0%br1:67"), 5000)).toBe(true);
    const out = `${dir}/r2.out`;
    const r = nsRun(
      vm.ns,
      ["busybox", "udhcpc", "-f", "-q", "-n", "-i", vm.ifname, "-t", "4", "-T", "1", "-s", udhcpcScript(dir, out)],
      { check: false },
    );
    expect(r.code).toBe(0);
    expect(events(out).find((e) => e.event === "bound")?.vars.ip).toBe("10.78.0.20");
  }, 20_000);

  test("an instance removed from the table: its next renewal is NAKed", async () => {
    writeTable(tablePath, table([D, C]));
    server.kill("SIGHUP");
    expect(await serverOut.waitJson((o) => o.reloaded === true)).toBeDefined();
    expect(await leaseEvent("lease.released", U.mac)).toBeDefined();
    const before = events(outU).length;
    udhcpcU.kill("SIGUSR1");
    const nak = await waitFor(
      () =>
        events(outU)
          .slice(before)
          .find((e) => e.event === "nak"),
      10_000,
    );
    expect(nak).toBeDefined();
    expect(
      events(outU)
        .slice(before)
        .some((e) => e.event === "bound"),
    ).toBe(false);
  }, 20_000);
});
