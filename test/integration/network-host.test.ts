/**
 * nova's network-associate-host with two real agents on one VXLAN segment: a network that is not
 * multi_host is served by its associated host alone. A guest plugged on the other host gets its
 * lease, router, gateway and IPv6 router advertisements from the associated host; the host it
 * runs on only bridges it (no address on the bridge, no DHCP or RA answer). Re-associating moves
 * serving.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Lab, nsRun, requireNetns, run, waitFor, type Vm } from "../harness/netns.ts";
import { type AgentHost, startAgent, underlayHosts } from "../harness/agent-hosts.ts";
import { netletBinary } from "../harness/binary.ts";
import { keygen } from "../../src/cluster/keyring.ts";

const KEY = keygen();
const BRIDGE = "br47";
const GATEWAY = "10.47.0.1";
/** udhcpc's script: print what the lease carries, configure nothing. */
const SHOW = '#!/bin/sh\n[ "$1" = bound ] && echo "lease ip=$ip serverid=$serverid router=$router"\nexit 0\n';

describe.skipIf(!requireNetns())("network-associate-host steers serving", () => {
  const lab = new Lab();
  const root = mkdtempSync(join(tmpdir(), "netlet-nethost-"));
  let hosts: AgentHost[] = [];
  let vm: Vm;
  let guest: { address: string; mac: string };

  const cli = (h: AgentHost, ...args: string[]) =>
    run([netletBinary(), ...args, "--socket", h.socket], { check: false });
  const ok = (h: AgentHost, ...args: string[]) => {
    const r = cli(h, ...args);
    if (r.code !== 0) throw new Error(`${args.join(" ")} on ${h.name}: ${r.stderr}`);
    return r.stdout;
  };
  const logs = () => hosts.map((h) => `--- ${h.name}\n${h.proc ? lab.logOf(h.proc, 3000) : ""}`).join("\n");

  /** The bridge's MAC and IPv4 addresses on host `h` (null while the bridge does not exist). */
  function bridgeOf(h: AgentHost): { mac: string; ip4: string[] } | null {
    const r = nsRun(h.ns, ["ip", "-j", "addr", "show", "dev", BRIDGE], { check: false });
    if (r.code !== 0) return null;
    const [a] = JSON.parse(r.stdout) as { address: string; addr_info: { family: string; local: string }[] }[];
    return { mac: a.address, ip4: a.addr_info.filter((i) => i.family === "inet").map((i) => i.local) };
  }

  /**
   * One DHCP exchange from the guest, with a capture of every DHCP reply that reached it: the
   * lease's server id and router, and the source MACs of the replies.
   */
  function dhcp(): { address: string | null; serverId: string | null; router: string | null; replyMacs: string[] } {
    const cap = join(root, "dhcp.cap");
    const script = [
      `tcpdump -i eth0 -nn -e -l udp src port 67 > ${cap} 2>/dev/null & t=$!`,
      "sleep 0.5",
      `busybox udhcpc -i eth0 -n -q -t 5 -T 1 -s ${join(root, "show.sh")} 2>&1`,
      "sleep 0.5; kill $t; wait $t 2>/dev/null",
      `sed 's/^/cap: /' ${cap}`,
    ].join("\n");
    const out = nsRun(vm.ns, ["sh", "-c", script], { check: false }).stdout;
    return {
      address: /lease ip=(\S+)/.exec(out)?.[1] ?? null,
      serverId: /lease .*serverid=(\S+)/.exec(out)?.[1] ?? null,
      router: /lease .*router=(\S+)/.exec(out)?.[1] ?? null,
      replyMacs: [...new Set([...out.matchAll(/^cap: \S+ ([0-9a-f:]{17}) >/gm)].map((m) => m[1]))].sort(),
    };
  }
  /** Every router that answers a router solicitation from the guest (rdisc6 shows each RA's source). */
  function routers(): string[] {
    const r = nsRun(vm.ns, ["rdisc6", "-m", "-r", "2", "-w", "1500", "eth0"], { check: false });
    return [...new Set([...r.stdout.matchAll(/^ from (fe80::\S+)/gm)].map((m) => m[1]))].sort();
  }
  /** The bridge's link-local address on host `h`. */
  function linkLocal(h: AgentHost): string {
    const r = nsRun(h.ns, ["ip", "-j", "addr", "show", "dev", BRIDGE], { check: false });
    const [a] = JSON.parse(r.stdout || "[{}]") as { addr_info?: { family: string; local: string; scope: string }[] }[];
    return a.addr_info?.find((i) => i.family === "inet6" && i.scope === "link")?.local ?? "none";
  }

  /** MACs answering an ARP request for the gateway from the guest. */
  function arpGateway(): string[] {
    const r = nsRun(vm.ns, ["arping", "-c", "2", "-w", "2", "-i", "eth0", GATEWAY], { check: false });
    return [...new Set([...r.stdout.matchAll(/from ([0-9a-f:]{17})/g)].map((m) => m[1]))].sort();
  }

  /** Serving is on `server`: the gateway address is on its bridge and on no other host's. */
  async function servedBy(server: AgentHost): Promise<void> {
    const placed = await waitFor(
      () => hosts.every((h) => JSON.stringify(bridgeOf(h)?.ip4) === JSON.stringify(h === server ? [GATEWAY] : [])),
      15000,
      100,
    );
    expect(placed, `${JSON.stringify(hosts.map((h) => [h.name, bridgeOf(h)]))}\n${logs()}`).toBe(true);
  }

  beforeAll(async () => {
    hosts = underlayHosts(lab, ["ha", "hb"], { net: "10.249.0", root, nsPrefix: "opnh" });
    startAgent(lab, hosts[0], KEY, "", "use_ipv6 = true\n");
    startAgent(lab, hosts[1], KEY, `${hosts[0].ip}:7946`, "use_ipv6 = true\n");
    for (const h of hosts) expect(await waitFor(() => cli(h, "status").code === 0, 15000)).toBe(true);
    const members = (h: AgentHost) =>
      (JSON.parse(ok(h, "members", "--json")) as { state: string }[]).filter((m) => m.state === "alive").length;
    expect(await waitFor(() => hosts.every((h) => members(h) === 2), 15000, 100), logs()).toBe(true);
    writeFileSync(join(root, "show.sh"), SHOW, { mode: 0o755 });
    const [a, b] = hosts;
    ok(
      a,
      "network-create",
      "single",
      "--fixed-range-v4",
      "10.47.0.0/24",
      "--fixed-range-v6",
      "fd00:47::/64",
      "--bridge",
      BRIDGE,
      "--vxlan",
      "4747",
      "--multi-host",
      "F",
    );
    expect(await waitFor(() => cli(b, "network-show", "single").code === 0, 10000, 100), logs()).toBe(true);
    ok(b, "network-associate-host", "single", "ha");
    const inst = JSON.parse(ok(b, "boot", "guest", "--network", "single", "--json"));
    guest = { address: inst.ports[0].address, mac: inst.ports[0].mac };
    // The host the guest runs on builds the bridge (and its VXLAN device) for the network it only bridges.
    expect(await waitFor(() => bridgeOf(b) !== null, 15000, 100), logs()).toBe(true);
    vm = lab.addVm(b.ns, { bridge: BRIDGE, mac: guest.mac, prefix: "opvm" });
    ok(b, "plug", "guest", "--port", vm.hostIf);
  }, 90_000);

  afterAll(() => lab.cleanup().then(() => rmSync(root, { recursive: true, force: true })));

  test("a guest on B gets its lease, router and gateway from A, the associated host; B only bridges", async () => {
    const [a, b] = hosts;
    await servedBy(a);
    const lease = dhcp();
    expect(lease.serverId, logs()).toBe(GATEWAY);
    expect(lease.router).toBe(GATEWAY);
    // Every reply came from A's bridge, across the VXLAN segment; B answered none.
    expect(lease.replyMacs).toEqual([bridgeOf(a)!.mac]);
    expect(bridgeOf(b)!.ip4).toEqual([]);
    // Each host's status says what it does for the network.
    const status = (h: AgentHost) => JSON.parse(ok(h, "status", "--json"));
    expect(status(a).networks.map((n: { label: string; host_address: string }) => [n.label, n.host_address])).toEqual([
      ["single", GATEWAY],
    ]);
    expect([status(b).networks, status(b).bridged]).toEqual([
      [],
      [{ label: "single", bridge: BRIDGE, served_by: "ha", server_address: GATEWAY }],
    ]);
    expect(ok(b, "status")).toContain("networks bridged only (served by their associated host):");
    // The guest takes the address A leased it: only A answers for the gateway, and A is reached.
    expect(lease.address).toBe(guest.address);
    nsRun(vm.ns, ["ip", "addr", "replace", `${guest.address}/24`, "dev", "eth0"]);
    expect(arpGateway()).toEqual([bridgeOf(a)!.mac]);
    // The only IPv6 router the guest hears is A.
    expect(routers()).toEqual([linkLocal(a)]);
    expect(nsRun(vm.ns, ["ping", "-c", "1", "-W", "2", GATEWAY], { check: false }).code).toBe(0);
  }, 60_000);

  test("re-associating with B moves serving to B: address, DHCP and gateway; A keeps only the bridge", async () => {
    const [a, b] = hosts;
    ok(a, "network-associate-host", "single", "hb");
    await servedBy(b);
    const lease = dhcp();
    expect(lease.serverId, logs()).toBe(GATEWAY);
    expect(lease.address).toBe(guest.address);
    expect(lease.replyMacs).toEqual([bridgeOf(b)!.mac]);
    expect(arpGateway()).toEqual([bridgeOf(b)!.mac]);
    expect(routers()).toEqual([linkLocal(b)]);
    expect(bridgeOf(a)!.ip4).toEqual([]);
  }, 60_000);
});
