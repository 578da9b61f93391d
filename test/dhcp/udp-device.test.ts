import { afterAll, describe, expect, test } from "bun:test";
import { Lab, nsRun, requireNetns, waitFor } from "../harness/netns.ts";
import { ifNameToIndex, openDeviceUdpSocket, SysError } from "../../src/sys/udp-device.ts";

const BUN = process.execPath;
const FIX = `${import.meta.dir}/fixtures`;

describe("device-bound UDP socket (no namespace needed)", () => {
  test("a missing device is a typed error, not a crash", () => {
    let err: unknown;
    try {
      openDeviceUdpSocket("nl-no-such-if0", 40067);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SysError);
    expect((err as SysError).code).toBe("ENODEV");
  });
  test("if_nametoindex: lo exists, a long or missing name is 0", () => {
    expect(ifNameToIndex("lo")).toBeGreaterThan(0);
    expect(ifNameToIndex("nl-no-such-if0")).toBe(0);
    expect(ifNameToIndex("x".repeat(40))).toBe(0);
  });
});

describe.skipIf(!requireNetns())("device-bound UDP socket in a namespace", () => {
  const lab = new Lab();
  afterAll(() => lab.cleanup());

  test("two bridges share 0.0.0.0:67, each hears only its own; SIOCSARP writes a neighbour entry", async () => {
    const hostNs = lab.addNamespace("nlds");
    lab.addBridge(hostNs, "br0", ["10.81.0.1/24"]);
    lab.addBridge(hostNs, "br1", ["10.82.0.1/24"]);
    const vm0 = lab.addVm(hostNs, { bridge: "br0", mac: "02:00:00:81:00:10" });
    const vm1 = lab.addVm(hostNs, { bridge: "br1", mac: "02:00:00:82:00:10" });
    nsRun(vm0.ns, ["ip", "addr", "add", "10.81.0.10/24", "dev", vm0.ifname]);
    nsRun(vm1.ns, ["ip", "addr", "add", "10.82.0.10/24", "dev", vm1.ifname]);
    const probe = lab.spawn(hostNs, [BUN, `${FIX}/socket-probe.ts`, "br0", "br1"], {
      env: { ARP: "10.81.0.77,02:00:00:81:00:77,br0" },
    });
    const reader = (probe.stdout as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain("ready");

    const ss = nsRun(hostNs, ["ss", "-ulpn"]).stdout;
    expect(ss).toContain("0.0.0.0%br0:67");
    expect(ss).toContain("0.0.0.0%br1:67");
    const neigh = nsRun(hostNs, ["ip", "neigh", "show", "dev", "br0"]).stdout;
    expect(neigh).toContain("10.81.0.77 lladdr 02:00:00:81:00:77");

    // SO_NO_CHECK: replies leave with a zero ("no") UDP checksum, never a partial one.
    const dump = lab.spawn(hostNs, ["tcpdump", "-i", "br0", "-n", "-l", "-vv", "-c", "2", "udp", "port", "67"]);
    await Bun.sleep(1000);
    const echo0 = nsRun(vm0.ns, [BUN, `${FIX}/udp-ping.ts`, "10.81.0.1", "67"]).stdout.trim();
    await Promise.race([dump.exited, Bun.sleep(3000)]);
    if (dump.exitCode === null) dump.kill();
    const dumped = await new Response(dump.stdout as ReadableStream).text();
    expect(dumped).toMatch(/10\.81\.0\.1\.67 > 10\.81\.0\.10\.68: \[no cksum\]/);
    const echo1 = nsRun(vm1.ns, [BUN, `${FIX}/udp-ping.ts`, "10.82.0.1", "67"]).stdout.trim();
    expect(echo0).toBe("echo:br0:ping");
    expect(echo1).toBe("echo:br1:ping");
    // Delivery follows the arrival device, not the address: br1's address reached over br0 is br0's.
    nsRun(vm0.ns, ["ip", "route", "add", "10.82.0.0/24", "dev", vm0.ifname]);
    expect(nsRun(vm0.ns, [BUN, `${FIX}/udp-ping.ts`, "10.82.0.1", "67"]).stdout.trim()).toBe("echo:br0:ping");
    expect(await waitFor(() => probe.exitCode === null, 100)).toBe(true);
  }, 30_000);
});
