/**
 * Live migration between two real agents of a cluster (`netlet lab up`: two hosts on a flat
 * segment with share_dhcp_address, a namespace guest on each, a floating IP on the first one's
 * guest reached from the internet namespace). The guest moves as a migrated VM does: its NIC stays (MAC, addresses,
 * caches) and its host-side end moves into the other host's bridge; `netlet migrate` on the new
 * host declares it. Then the new host serves it (port, DHCP renewal, metadata, floating IP with a
 * gratuitous ARP) and the old one holds nothing of it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { netletBinary } from "../harness/binary.ts";
import { nsRun, requireNetns, run, uniqueName, waitFor } from "../harness/netns.ts";
import type { LabState } from "../../src/lab/model.ts";

const sh = (ns: string, argv: string[], input?: string) => nsRun(ns, argv, { check: false, input });

/** The host's first IPv4 address and MAC on `dev`. */
function addrOf(ns: string, dev: string): { ip4: string; mac: string } {
  const [a] = JSON.parse(sh(ns, ["ip", "-j", "addr", "show", "dev", dev]).stdout) as {
    address: string;
    addr_info: { family: string; local: string }[];
  }[];
  return { ip4: a.addr_info.find((i) => i.family === "inet")!.local, mac: a.address };
}

/** A REBINDING request (ciaddr set, broadcast) from the guest, as a client renews; the ACK's server id and source MAC. */
function renew(ns: string, mac: string, ip: string): { server: string; from: string } | null {
  const py = `
from scapy.all import *
conf.checkIPaddr = False
conf.verb = 0
mac = "${mac}"
req = (Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / IP(src="${ip}", dst="255.255.255.255") / UDP(sport=68, dport=67)
  / BOOTP(chaddr=bytes.fromhex(mac.replace(":", "")), ciaddr="${ip}", xid=RandInt())
  / DHCP(options=[("message-type", "request"), "end"]))
ans = srp1(req, iface="eth0", timeout=3)
if ans is not None and DHCP in ans:
  opts = dict(o for o in ans[DHCP].options if isinstance(o, tuple))
  if opts.get("message-type") == 5: print("ACK", opts.get("server_id"), ans[Ether].src)
`;
  const r = sh(ns, ["/usr/bin/python3", "-c", py]);
  const m = /^ACK (\S+) (\S+)$/m.exec(r.stdout);
  return m ? { server: m[1], from: m[2] } : null;
}

describe.skipIf(!requireNetns())("live migration between two hosts of a cluster", () => {
  const env = {
    NETLET_LAB_DIR: mkdtempSync(join(tmpdir(), "netlet-mig-")),
    NETLET_LAB_PREFIX: `${uniqueName("mg")}-`,
  };
  const lab = (...args: string[]) => run([netletBinary(), "lab", ...args], { check: false, env });
  let s: LabState;
  const cli = (h: LabState["hosts"][number], ...args: string[]) =>
    run([netletBinary(), ...args, "--socket", h.socket], { check: false });
  const json = <T>(h: LabState["hosts"][number], ...args: string[]): T => {
    const r = cli(h, ...args, "--json");
    if (r.code !== 0) throw new Error(`${args.join(" ")} on ${h.name}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };

  beforeAll(() => {
    const up = lab("up", "--hosts", "2", "--vms", "1", "--share-dhcp-address");
    if (up.code !== 0) throw new Error(`lab up: ${up.stderr}`);
    s = JSON.parse(readFileSync(join(env.NETLET_LAB_DIR, "state.json"), "utf8")) as LabState;
  }, 180_000);
  afterAll(() => {
    lab("down");
    rmSync(env.NETLET_LAB_DIR, { recursive: true, force: true });
  });

  test("bad requests are refused with one line and move nothing", () => {
    const [a, b] = s.hosts;
    const vm = s.vms[0];
    const before = json<{ host: string }>(a, "show", vm.name).host;
    expect(cli(b, "migrate", vm.name).stderr).toContain("--to-host HOST is required");
    expect(cli(b, "migrate", "no-such-vm", "--to-host", b.name).stderr).toContain("instance no-such-vm not found");
    expect(cli(b, "migrate", vm.name, "--to-host", "host9").stderr).toContain(
      "--to-host host9 is not a live member of the cluster",
    );
    expect(cli(b, "migrate", vm.name, "--to-host", a.name).stderr).toContain(`run the migration on ${a.name}'s agent`);
    const badPort = cli(b, "migrate", vm.name, "--to-host", b.name, "--port", "bad/port");
    expect([badPort.code, badPort.stderr]).toEqual([2, expect.stringContaining('port "bad/port" is not a valid')]);
    expect(json<{ host: string }>(b, "show", vm.name).host).toBe(before);
    expect(json<{ host: string }>(a, "show", vm.name).host).toBe(a.name);
  });

  test("the guest moves to host2: host2 serves it (port, DHCP, metadata, floating IP) and host1 withdraws", async () => {
    const [a, b] = s.hosts;
    const vm = s.vms.find((v) => v.host === a.name)!;
    const fip = vm.floatingIp!;
    const internet = s.internetNs!;
    expect(s.floatingReachable).toBe(true);
    const idBefore = sh(vm.ns, ["curl", "-s", "-m", "3", "http://169.254.169.254/latest/meta-data/instance-id"]).stdout;
    expect(idBefore).toMatch(/^i-[0-9a-f]{8}$/);
    // The guest talks to its gateway (the same address on every host): host1's bridge MAC.
    const bridgeA = addrOf(a.ns, "br100");
    expect(sh(vm.ns, ["ping", "-c", "1", "-W", "2", bridgeA.ip4]).code).toBe(0);
    expect(sh(vm.ns, ["ip", "neigh", "show", bridgeA.ip4]).stdout).toContain(bridgeA.mac);
    // Moving a veth end between namespaces drops the carrier, which empties the guest's neighbour
    // table (a QEMU guest keeps it: bench/guests/migrate.ts); with arp_accept the announcement
    // that host2 sends on the new port shows up as a fresh entry instead of an updated one.
    sh(vm.ns, ["sysctl", "-qw", "net.ipv4.conf.eth0.arp_accept=1"]);
    // The migration: the guest's NIC keeps its MAC, addresses and caches; its host-side end
    // leaves host1's bridge for host2's.
    const port = vm.port!;
    expect(sh(a.ns, ["ip", "link", "set", port, "netns", b.ns]).code).toBe(0);
    expect(sh(b.ns, ["ip", "link", "set", port, "master", "br100", "up"]).code).toBe(0);
    const r = cli(b, "migrate", vm.name, "--to-host", b.name, "--port", port);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain(`instance ${vm.name} moved from ${a.name} to ${b.name}`);
    expect(r.stdout).toContain(`floating IPs now served here: ${fip}`);
    const onB = json<{ host: string; ports: { port: string | null }[] }>(b, "show", vm.name);
    expect([onB.host, onB.ports[0].port]).toEqual([b.name, port]);

    // The old home learns the move through the cluster and withdraws its port and addresses.
    const hasFip = (ns: string) => sh(ns, ["ip", "-4", "addr", "show", "dev", "under0"]).stdout.includes(`${fip}/32`);
    expect(await waitFor(() => json<{ host: string }>(a, "show", vm.name).host === b.name, 10_000, 100)).toBe(true);
    expect(await waitFor(() => !hasFip(a.ns) && hasFip(b.ns), 15_000, 100)).toBe(true);
    expect(json<{ ports: { port: string | null }[] }>(a, "show", vm.name).ports[0].port).toBeNull();
    const rulesA = () => sh(a.ns, ["nft", "list", "ruleset"]).stdout;
    expect(await waitFor(() => !rulesA().includes(fip) && !rulesA().includes(vm.mac), 10_000, 100)).toBe(true);

    // The guest is not reconfigured: its gateway, the same address on every host
    // (share_dhcp_address), resolves to host2's bridge now, which host2 announced on its new port.
    const bridgeB = addrOf(b.ns, "br100");
    const gatewayMac = () => sh(vm.ns, ["ip", "neigh", "show", bridgeB.ip4]).stdout;
    expect(await waitFor(() => gatewayMac().includes(bridgeB.mac), 3000, 50), gatewayMac()).toBe(true);
    // The floating IP answers through host2, whose MAC the gratuitous ARP taught the outside
    // (before any packet of the outside asked for it).
    const underB = addrOf(b.ns, "under0").mac;
    expect(await waitFor(() => sh(internet, ["ip", "neigh", "show", fip]).stdout.includes(underB), 3000, 50)).toBe(
      true,
    );
    expect(await waitFor(() => sh(internet, ["ping", "-c", "1", "-W", "1", fip]).code === 0, 10_000, 100)).toBe(true);
    // Metadata from host2, with the instance's data.
    expect(sh(vm.ns, ["curl", "-s", "-m", "3", "http://169.254.169.254/latest/meta-data/instance-id"]).stdout).toBe(
      idBefore,
    );
    // A renewal (REBINDING, as after the old server stops answering) is ACKed by host2's bridge.
    expect(renew(vm.ns, vm.mac, vm.fixedIp!)).toEqual({ server: bridgeB.ip4, from: bridgeB.mac });
    const lease = json<{ mac: string; state: string }[]>(b, "dhcp", "leases").find((l) => l.mac === vm.mac);
    expect(lease?.state).toBe("leased");
    // The old host sees nothing of the guest's traffic any more: its port is gone, its rules too.
    expect(sh(a.ns, ["ip", "link", "show", port]).code).not.toBe(0);
  }, 90_000);

  test("the old home dies mid-way: the new home takes over alone; the dead host, back with its old state, withdraws: one home", async () => {
    const [a, b] = s.hosts;
    const vm = s.vms.find((v) => v.host === a.name)!;
    const fip = vm.floatingIp!;
    const port = vm.port!;
    // vm1 lives on host2 now (previous test). host2's agent dies; the guest moves back to host1.
    process.kill(b.pid!, "SIGKILL");
    await waitFor(() => sh(b.ns, ["kill", "-0", String(b.pid)]).code !== 0, 5000, 50);
    expect(sh(b.ns, ["ip", "link", "set", port, "netns", a.ns]).code).toBe(0);
    expect(sh(a.ns, ["ip", "link", "set", port, "master", "br100", "up"]).code).toBe(0);
    const r = cli(a, "migrate", vm.name, "--to-host", a.name, "--port", port);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain(`instance ${vm.name} moved from ${b.name} to ${a.name}`);
    // host1 serves the guest at once (DHCP), though the floating IP waits for its old server.
    const bridgeA = addrOf(a.ns, "br100");
    expect(renew(vm.ns, vm.mac, vm.fixedIp!)).toEqual({ server: bridgeA.ip4, from: bridgeA.mac });
    // host2 comes back from its state directory, where vm1 still lives on host2.
    const log = openSync(join(b.stateDir, "agent.log"), "a");
    const p = Bun.spawn(
      ["ip", "netns", "exec", b.ns, netletBinary(), "agent", "--config", b.config, "--socket", b.socket],
      {
        stdin: "ignore",
        stdout: log,
        stderr: log,
      },
    );
    b.pid = p.pid;
    expect(await waitFor(() => cli(b, "status").code === 0, 15_000, 100)).toBe(true);
    const hasFip = (ns: string) => sh(ns, ["ip", "-4", "addr", "show", "dev", "under0"]).stdout.includes(`${fip}/32`);
    const settled = await waitFor(
      () =>
        json<{ host: string }>(b, "show", vm.name).host === a.name &&
        json<{ host: string }>(a, "show", vm.name).host === a.name &&
        hasFip(a.ns) &&
        !hasFip(b.ns),
      20_000,
      200,
    );
    const why = () =>
      JSON.stringify({
        onB: json<{ host: string }>(b, "show", vm.name).host,
        onA: json<{ host: string }>(a, "show", vm.name).host,
        fipA: hasFip(a.ns),
        fipB: hasFip(b.ns),
        statusB: json<Record<string, unknown>>(b, "status"),
        logA: readFileSync(join(a.stateDir, "agent.log"), "utf8").split("\n").slice(-15),
        logB: readFileSync(join(b.stateDir, "agent.log"), "utf8").split("\n").slice(-40),
      });
    expect(settled, why()).toBe(true);
    expect(json<{ ports: { port: string | null }[] }>(b, "show", vm.name).ports[0].port).toBeNull();
    expect(await waitFor(() => sh(s.internetNs!, ["ping", "-c", "1", "-W", "1", fip]).code === 0, 10_000, 100)).toBe(
      true,
    );
    // Exactly one home, seen alike from both hosts.
    const homes = s.hosts.filter((h) => json<{ host: string }>(h, "show", vm.name).host === h.name).map((h) => h.name);
    expect(homes).toEqual([a.name]);
  }, 90_000);

  test("an instance deleted on its new home gives its address back to the host whose block it came from", async () => {
    const [a, b] = s.hosts;
    const first = json<{ ports: { address: string }[] }>(a, "boot", "mgx", "--network", "private").ports[0].address;
    expect(await waitFor(() => cli(b, "show", "mgx").code === 0, 10_000, 100)).toBe(true);
    expect(cli(b, "migrate", "mgx", "--to-host", b.name).code).toBe(0);
    expect(await waitFor(() => json<{ host: string }>(a, "show", "mgx").host === b.name, 10_000, 100)).toBe(true);
    expect(cli(b, "delete", "mgx").code).toBe(0);
    expect(await waitFor(() => cli(a, "show", "mgx").code !== 0, 10_000, 100)).toBe(true);
    // host1 hands out the lowest free address of its block: the one it got back.
    const next = json<{ ports: { address: string }[] }>(a, "boot", "mgy", "--network", "private").ports[0].address;
    expect(next).toBe(first);
  }, 60_000);
});
