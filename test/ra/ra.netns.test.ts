/**
 * RaService against the real kernel: VM namespaces on two served bridges (and one unserved)
 * configure themselves from our RAs; rdisc6 decodes them; malformed solicitations are counted;
 * network removal and service stop withdraw what was advertised.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { eui64 } from "../../src/net/eui64.ts";
import type { BridgeConfig } from "../../src/ra/config.ts";
import { Lab, nsRun, requireNetns, waitFor, type Vm } from "../harness/netns.ts";

const FIXTURE = join(import.meta.dir, "fixture-ra.ts");
const SEND = join(import.meta.dir, "send-icmp6.ts");
const BUN = process.execPath;

function addrs(vm: Vm): string {
  return nsRun(vm.ns, ["ip", "-6", "addr", "show", "dev", vm.ifname]).stdout;
}
function routes(vm: Vm): string {
  return nsRun(vm.ns, ["ip", "-6", "route", "show", "dev", vm.ifname]).stdout;
}
function linkLocalOf(ns: string, dev: string): string {
  const out = nsRun(ns, ["ip", "-6", "-o", "addr", "show", "dev", dev, "scope", "link"]).stdout;
  return /inet6 (fe80::[0-9a-f:]+)\//.exec(out)?.[1] ?? "";
}
function metric(text: string, name: string, labels: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

describe.skipIf(!requireNetns())("RaService in namespaces", () => {
  const lab = new Lab();
  const tmp = mkdtempSync(join(tmpdir(), "netlet-ra-"));
  const cfgPath = join(tmp, "ra.json");
  const metricsPath = join(tmp, "metrics.txt");
  let host = "";
  let vmA: Vm, vmB: Vm, vmC: Vm;
  let agent: Subprocess;
  let agentOut = "";
  const bridges: BridgeConfig[] = [
    { bridge: "br-a", prefix: "fd00:a1::/64", mtu: 1450, rdnss: ["fd00:a1::1"], dnssl: ["novalocal", "example.org"] },
    { bridge: "br-b", prefix: "fd00:b2::/64", mtu: 1400, rdnss: ["fd00:b2::1"], dnssl: ["novalocal"] },
  ];
  const metrics = () => {
    try {
      return readFileSync(metricsPath, "utf8");
    } catch {
      return "";
    }
  };

  beforeAll(async () => {
    host = lab.addNamespace("nlrah");
    nsRun(host, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    lab.addBridge(host, "br-a", ["fd00:a1::1/64"]);
    lab.addBridge(host, "br-b", ["fd00:b2::1/64"]);
    lab.addBridge(host, "br-c", ["fd00:c3::1/64"]); // a bridge this node does not serve
    writeFileSync(cfgPath, JSON.stringify({ bridges }));
    agent = lab.spawn(host, [BUN, FIXTURE, cfgPath, metricsPath]);
    void (async () => {
      for await (const chunk of agent.stdout as ReadableStream<Uint8Array>) agentOut += new TextDecoder().decode(chunk);
    })();
    vmA = lab.addVm(host, { bridge: "br-a", mac: "02:00:00:00:0a:01" });
    vmB = lab.addVm(host, { bridge: "br-b", mac: "02:00:00:00:0b:01" });
    vmC = lab.addVm(host, { bridge: "br-c", mac: "02:00:00:00:0c:01" });
    for (const vm of [vmA, vmB, vmC]) nsRun(vm.ns, ["sysctl", "-qw", `net.ipv6.conf.${vm.ifname}.accept_ra=1`]);
  });

  afterAll(async () => {
    await lab.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });

  test("a VM gets exactly its EUI-64 address, an on-link route and a default route with the MTU", async () => {
    // EUI-64 of 02:00:00:00:0a:01: U/L bit flipped (02→00), ff:fe in the middle.
    const want = "fd00:a1::ff:fe00:a01";
    expect(eui64(vmA.mac, "fd00:a1::/64")).toBe(want); // the address IPAM stores for this VIF
    // Wait for DAD on both the link-local and the SLAAC address (rdisc6 needs a usable source).
    const got = await waitFor(
      () =>
        addrs(vmA).includes(`${want}/64 scope global`) &&
        !addrs(vmA).includes("tentative") &&
        /default via/.test(routes(vmA)),
      15_000,
    );
    expect(got).toBe(true);
    const global = [...addrs(vmA).matchAll(/inet6 ([0-9a-f:]+)\/64 scope global/g)].map((m) => m[1]);
    expect(global).toEqual([want]);
    expect(routes(vmA)).toMatch(/^fd00:a1::\/64 proto kernel/m);
    const gw = linkLocalOf(host, "br-a");
    expect(gw).toMatch(/^fe80::/);
    expect(routes(vmA)).toMatch(new RegExp(`^default via ${gw} proto ra .*mtu 1450`, "m"));
  });

  test("rdisc6 gets an answer within 1 s and decodes prefix, MTU, RDNSS and DNSSL", () => {
    const t0 = performance.now();
    const r = nsRun(vmA.ns, ["rdisc6", "-1", "-r", "1", "-w", "1000", vmA.ifname], { check: false });
    const ms = performance.now() - t0;
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(ms).toBeLessThan(1500); // one RS, 1 s wait: an answer arrived inside the window
    expect(r.stdout).toMatch(/Prefix\s+: fd00:a1::\/64/);
    expect(r.stdout).toMatch(/On-link\s+:\s+Yes/);
    expect(r.stdout).toMatch(/Autonomous address conf\.:\s+Yes/);
    expect(r.stdout).toMatch(/Valid time\s+:\s+86400/);
    expect(r.stdout).toMatch(/Pref\. time\s+:\s+14400/);
    expect(r.stdout).toMatch(/MTU\s+:\s+1450 bytes/);
    expect(r.stdout).toMatch(/Recursive DNS server\s+: fd00:a1::1/);
    expect(r.stdout).toMatch(/DNS search list\s+: novalocal example\.org/);
    expect(r.stdout).toMatch(/DNS server lifetime\s+:\s+30 /);
    expect(r.stdout).toMatch(/Router lifetime\s+:\s+30 /);
    expect(r.stdout).toMatch(/Stateful address conf\.\s+:\s+No/);
    expect(r.stdout).toMatch(/Stateful other conf\.\s+:\s+No/);
    expect(r.stdout).toMatch(new RegExp(`from ${linkLocalOf(host, "br-a")}`));
  });

  test("two bridges advertise only their own prefixes; an unserved bridge gets nothing", async () => {
    const wantB = "fd00:b2::ff:fe00:b01";
    expect(await waitFor(() => addrs(vmB).includes(`${wantB}/64`) && !addrs(vmB).includes("tentative"), 15_000)).toBe(
      true,
    );
    expect(addrs(vmB)).not.toContain("fd00:a1:");
    expect(addrs(vmA)).not.toContain("fd00:b2:");
    expect(routes(vmB)).toMatch(/mtu 1400/);
    const rdB = nsRun(vmB.ns, ["rdisc6", "-r", "2", "-w", "1000", vmB.ifname], { check: false }).stdout;
    expect(rdB).toContain("fd00:b2::/64");
    expect(rdB).not.toContain("fd00:a1::");
    expect(await waitFor(() => addrs(vmC).includes("scope link") && !addrs(vmC).includes("tentative"), 10_000)).toBe(
      true,
    );
    const rdC = nsRun(vmC.ns, ["rdisc6", "-1", "-r", "1", "-w", "1000", vmC.ifname], { check: false });
    expect(rdC.code).not.toBe(0);
    expect(rdC.stdout + rdC.stderr).toContain("Timed out"); // the RS went out and nobody answered
    expect(addrs(vmC)).not.toContain("scope global");
    expect(routes(vmC)).not.toContain("default");
  });

  test("malformed solicitations are counted and dropped, and the service keeps answering", async () => {
    const bad = [
      "85010000" + "00000000", // code 1
      "85000000" + "00000000" + "0100020000000a01", // zero-length option
      "85000000" + "00000000" + "0102020000000a01", // option runs past the end
    ];
    nsRun(vmA.ns, [BUN, SEND, vmA.ifname, "ff02::2", "255", ...bad]);
    nsRun(vmA.ns, [BUN, SEND, vmA.ifname, "ff02::2", "64", "8500000000000000"]); // hop limit 64
    const reasons = [
      'reason="bad-code"',
      'reason="zero-length-option"',
      'reason="option-overrun"',
      'reason="hop-limit"',
    ];
    const counted = await waitFor(
      () => reasons.every((r) => metric(metrics(), "netlet_ra_dropped_total", `bridge="br-a",${r}`) === 1),
      5_000,
    );
    expect(counted).toBe(true);
    const answered = nsRun(vmA.ns, ["rdisc6", "-1", "-r", "1", "-w", "1000", vmA.ifname], { check: false });
    expect(answered.code).toBe(0);
    expect(agent.exitCode).toBeNull();
  });

  test("a host that never solicits still hears an RA as soon as its port comes up", async () => {
    const vm = lab.addVm(host, { bridge: "br-a", mac: "02:00:00:00:0a:02" });
    nsRun(vm.ns, ["ip", "link", "set", vm.ifname, "down"]);
    nsRun(vm.ns, ["sysctl", "-qw", `net.ipv6.conf.${vm.ifname}.router_solicitations=0`]);
    nsRun(vm.ns, ["sysctl", "-qw", `net.ipv6.conf.${vm.ifname}.accept_ra=1`]);
    await Bun.sleep(200);
    nsRun(vm.ns, ["ip", "link", "set", vm.ifname, "up"]);
    const port = await waitFor(
      () => agentOut.split("\n").some((l) => l.includes('"ra.port-up"') && l.includes(vm.hostIf)),
      3_000,
    );
    expect(port).toBe(true);
    // An RA follows within the 3 s multicast limit, so the address appears before any
    // unsolicited RA would be guaranteed (Max 10 s).
    const addr = await waitFor(
      () => nsRun(vm.ns, ["ip", "-6", "addr", "show", "dev", vm.ifname]).stdout.includes("fd00:a1::ff:fe00:a02/64"),
      4_000,
    );
    expect(addr).toBe(true);
  });

  test("removing a network withdraws its router and deprecates its prefix", async () => {
    writeFileSync(cfgPath, JSON.stringify({ bridges: [bridges[0], { ...bridges[1], removed: true }] }));
    agent.kill("SIGHUP");
    const gone = await waitFor(() => !routes(vmB).includes("default"), 5_000);
    expect(gone).toBe(true);
    // preferred lifetime 0 deprecates the address at once (RFC 4862 keeps it valid for 2 h).
    expect(addrs(vmB)).toMatch(/fd00:b2::ff:fe00:b01\/64 scope global deprecated/);
    expect(
      await waitFor(() => metric(metrics(), "netlet_ra_sent_total", 'bridge="br-b",kind="final"') >= 1, 2_000),
    ).toBe(true);
    // Still served bridge is untouched.
    expect(routes(vmA)).toContain("default");
  });

  test("stopping the service sends a zero-lifetime RA and the VM drops its default route", async () => {
    expect(routes(vmA)).toContain("default");
    agent.kill("SIGTERM");
    expect(await agent.exited).toBe(0);
    const gone = await waitFor(() => !routes(vmA).includes("default"), 3_000);
    expect(gone).toBe(true);
    expect(addrs(vmA)).toContain("fd00:a1::ff:fe00:a01/64"); // addresses stay valid
    expect(metric(metrics(), "netlet_ra_sent_total", 'bridge="br-a",kind="final"')).toBe(1);
    expect(metrics()).not.toContain('bridge="br-c"');
  });
});
