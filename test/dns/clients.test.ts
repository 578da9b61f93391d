/**
 * Instance DNS with real clients: the agent binary in a host namespace, guests configured by
 * busybox udhcpc (which writes their resolv.conf from the lease) and the kernel's SLAAC, asking
 * with dig, host and glibc (getent). The upstream is a real dnsmasq in an "internet" namespace
 * behind the host's public interface.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Lab, nsRun, requireNetns, run, waitFor, type Vm } from "../harness/netns.ts";
import { netletBinary } from "../harness/binary.ts";

// Writes the lease's DNS settings where glibc reads them: inside `ip netns exec`,
// /etc/resolv.conf is the namespace's own /etc/netns/<ns>/resolv.conf.
const UDHCPC = `#!/bin/sh
case "$1" in bound|renew)
  ip addr flush dev "$interface" scope global; ip addr add "$ip/$mask" dev "$interface"
  [ -n "$router" ] && ip route replace default via "$router" dev "$interface"
  { for d in $dns; do echo "nameserver $d"; done; [ -n "$search" ] && echo "search $search"; echo "options timeout:1 attempts:1"; } > /etc/resolv.conf
  echo "lease ip=$ip dns=$dns search=$search" ;;
esac
`;

/** 90 A records: more than fit in dnsmasq's 1232-byte EDNS0 answer, so we must ask it over TCP. */
const BIG = Array.from({ length: 90 }, (_, i) => `host-record=big.outside.example,198.51.100.${i + 1},300`).join("\n");

interface Booted {
  uuid: string;
  hostname: string;
  ports: { mac: string; address: string; address_v6: string }[];
}

describe.skipIf(!requireNetns())("instance DNS with real clients", () => {
  const lab = new Lab();
  const dir = mkdtempSync(join(tmpdir(), "netlet-dns-"));
  const socket = join(dir, "netlet.sock");
  const cli = (...a: string[]) => run([netletBinary(), ...a, "--socket", socket]);
  let host = "",
    internet = "";
  const vms: Vm[] = [];
  let web1: Booted, web2: Booted, other: Booted;
  let vm1: Vm, vm2: Vm, vm3: Vm;

  const dig = (vm: Vm, ...args: string[]) => nsRun(vm.ns, ["dig", "+time=3", "+tries=1", ...args], { check: false });
  const short = (vm: Vm, ...args: string[]) =>
    dig(vm, "+short", ...args)
      .stdout.trim()
      .split("\n")
      .filter(Boolean)
      .sort();

  function dhcp(vm: Vm): string {
    mkdirSync(`/etc/netns/${vm.ns}`, { recursive: true });
    writeFileSync(`/etc/netns/${vm.ns}/resolv.conf`, "");
    return nsRun(
      vm.ns,
      [
        "busybox",
        "udhcpc",
        "-i",
        "eth0",
        "-n",
        "-q",
        "-t",
        "5",
        "-T",
        "1",
        "-s",
        join(dir, "udhcpc.sh"),
        "-O",
        "search",
      ],
      { check: false },
    ).stdout;
  }

  beforeAll(async () => {
    host = lab.addNamespace("ndh");
    internet = lab.addNamespace("ndi");
    const [pub] = lab.link(host, internet, { addrA: "192.0.2.10/24", addrB: "192.0.2.1/24" });
    lab.addBridge(host, "br100");
    lab.addBridge(host, "br200");
    writeFileSync(
      join(dir, "upstream.conf"),
      `no-resolv\nno-hosts\nlisten-address=192.0.2.1\nbind-interfaces\nhost-record=www.outside.example,198.51.100.80,300\n${BIG}\n`,
    );
    lab.spawn(internet, [
      "dnsmasq",
      "--no-daemon",
      `--conf-file=${join(dir, "upstream.conf")}`,
      `--pid-file=${join(dir, "dnsmasq.pid")}`,
    ]);
    const conf = join(dir, "netlet.conf");
    writeFileSync(
      conf,
      `[DEFAULT]\nhost = dh\nstate_path = ${dir}/state\nmy_ip = 192.0.2.10\nuse_ipv6 = true\npublic_interface = ${pub}\n`,
    );
    lab.spawn(host, [netletBinary(), "agent", "--config", conf, "--socket", socket]);
    expect(
      await waitFor(() => run([netletBinary(), "status", "--socket", socket], { check: false }).code === 0, 10000),
    ).toBe(true);
    cli(
      "network-create",
      "private",
      "--fixed-range-v4",
      "10.20.0.0/24",
      "--fixed-range-v6",
      "fd00:20::/64",
      "--bridge",
      "br100",
      "--dns1",
      "192.0.2.1",
    );
    // Its upstream is an address where nothing answers.
    // A project's own network; "private" is shared (no project).
    cli(
      "network-create",
      "other",
      "--fixed-range-v4",
      "10.40.0.0/24",
      "--bridge",
      "br200",
      "--dns1",
      "192.0.2.99",
      "--project-id",
      "tenant",
    );
    const boot = (name: string, net: string, ...more: string[]) =>
      JSON.parse(cli("boot", name, "--network", net, "--json", ...more).stdout) as Booted;
    web1 = boot("web-1", "private");
    web2 = boot("web-2", "private");
    other = boot("other-1", "other", "--project-id", "tenant");
    writeFileSync(join(dir, "udhcpc.sh"), UDHCPC, { mode: 0o755 });
    vm1 = lab.addVm(host, { bridge: "br100", mac: web1.ports[0].mac });
    vm2 = lab.addVm(host, { bridge: "br100", mac: web2.ports[0].mac });
    vm3 = lab.addVm(host, { bridge: "br200", mac: other.ports[0].mac });
    // Each guest's veth passes traffic once declared as its VIF's port.
    for (const [vm, inst] of [
      [vm1, web1],
      [vm2, web2],
      [vm3, other],
    ] as const)
      cli("plug", inst.uuid, "--port", vm.hostIf);
    vms.push(vm1, vm2, vm3);
    nsRun(vm1.ns, ["sysctl", "-qw", "net.ipv6.conf.eth0.accept_ra=1"]);
  }, 60_000);

  afterAll(async () => {
    await lab.cleanup();
    for (const vm of vms) rmSync(`/etc/netns/${vm.ns}`, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  test("DHCP hands out this host's bridge address as the resolver and the search domain", () => {
    expect(dhcp(vm1)).toContain(`lease ip=${web1.ports[0].address} dns=10.20.0.2 search=novalocal`);
    expect(dhcp(vm3)).toContain(`dns=10.40.0.2`);
    expect(readFileSync(`/etc/netns/${vm1.ns}/resolv.conf`, "utf8")).toContain(
      "nameserver 10.20.0.2\nsearch novalocal",
    );
  });

  test("another instance by name (dig, host, glibc through the search domain), A, AAAA and PTR", async () => {
    const a = await waitFor(() => short(vm1, "@10.20.0.2", "web-2.novalocal", "A").join(), 5000);
    expect(a).toBe(web2.ports[0].address);
    expect(short(vm1, "@10.20.0.2", "web-2.novalocal", "AAAA")).toEqual([web2.ports[0].address_v6]);
    expect(short(vm1, "@10.20.0.2", "-x", web2.ports[0].address)).toEqual(["web-2.novalocal."]);
    expect(short(vm1, "@10.20.0.2", "-x", web2.ports[0].address_v6)).toEqual(["web-2.novalocal."]);
    expect(nsRun(vm1.ns, ["host", "-W", "3", "web-2.novalocal", "10.20.0.2"], { check: false }).stdout).toContain(
      `web-2.novalocal has address ${web2.ports[0].address}`,
    );
    // glibc with the resolv.conf the DHCP client wrote: a bare name, completed by the search domain.
    expect(nsRun(vm1.ns, ["getent", "ahostsv4", "web-2"], { check: false }).stdout).toContain(web2.ports[0].address);
    expect(nsRun(vm1.ns, ["getent", "hosts", web2.ports[0].address], { check: false }).stdout).toContain(
      "web-2.novalocal",
    );
    // Its own name too (the "sudo: unable to resolve host" case).
    expect(nsRun(vm1.ns, ["getent", "ahostsv4", "web-1"], { check: false }).stdout).toContain(web1.ports[0].address);
  });

  test("an unknown name in the zone is NXDOMAIN with the SOA", () => {
    const out = dig(vm1, "@10.20.0.2", "nobody.novalocal", "A").stdout;
    expect(out).toContain("status: NXDOMAIN");
    expect(out).toMatch(/novalocal\.\s+\d+\s+IN\s+SOA/);
  });

  test("an outside name is answered by the upstream, then from the cache with its TTL counting down", async () => {
    const first = dig(vm1, "@10.20.0.2", "www.outside.example", "A", "+noall", "+answer").stdout;
    expect(first).toMatch(/www\.outside\.example\.\s+300\s+IN\s+A\s+198\.51\.100\.80/);
    // Polling, not sleeping: the TTL drops once a whole second has passed.
    const later = await waitFor(
      () => {
        const o = dig(vm1, "@10.20.0.2", "www.outside.example", "A", "+noall", "+answer").stdout;
        const ttl = Number(/\s(\d+)\s+IN\s+A/.exec(o)?.[1] ?? 300);
        return ttl < 300 ? ttl : 0;
      },
      5000,
      250,
    );
    expect(later).toBeGreaterThan(290);
    // Identical queries (+nocookie: dig otherwise adds a fresh cookie) are answered from the stored
    // reply: over 2.5 s of asking, the TTL falls by the time that passed, not once per answer.
    const ttlNow = () =>
      Number(
        /\s(\d+)\s+IN\s+A/.exec(
          dig(vm1, "@10.20.0.2", "+nocookie", "www.outside.example", "A", "+noall", "+answer").stdout,
        )?.[1],
      );
    const t0 = Date.now(),
      start = ttlNow();
    let last = start;
    await waitFor(
      () => {
        last = ttlNow();
        return Date.now() - t0 >= 2500;
      },
      5000,
      200,
    );
    const elapsed = Math.ceil((Date.now() - t0) / 1000);
    expect(start - last).toBeGreaterThanOrEqual(elapsed - 2);
    expect(start - last).toBeLessThanOrEqual(elapsed + 1);
    expect(nsRun(vm1.ns, ["getent", "ahostsv4", "www.outside.example"], { check: false }).stdout).toContain(
      "198.51.100.80",
    );
  });

  test("an answer too large for UDP: TC to the client, which retries over TCP; the upstream was asked over TCP too", () => {
    const udp = dig(vm1, "@10.20.0.2", "big.outside.example", "A", "+ignore", "+notcp");
    expect(udp.stdout).toMatch(/flags: qr[^;]* tc/);
    const out = dig(vm1, "@10.20.0.2", "big.outside.example", "A");
    expect(out.stdout).toContain("Truncated, retrying in TCP mode");
    // 90 records do not fit dnsmasq's 1232-byte UDP answer either: they arrive only if we re-asked over TCP.
    expect(out.stdout).toContain("ANSWER: 90");
    expect(dig(vm1, "@10.20.0.2", "+tcp", "big.outside.example", "A", "+short").stdout.trim().split("\n").length).toBe(
      90,
    );
  });

  test("the upstream is down: SERVFAIL in well under dig's timeout", () => {
    expect(dhcp(vm3)).toContain("dns=10.40.0.2");
    const t0 = performance.now();
    const out = dig(vm3, "@10.40.0.2", "www.outside.example", "A").stdout;
    const ms = performance.now() - t0;
    expect(out).toContain("status: SERVFAIL");
    expect(ms).toBeLessThan(2500);
  });

  test("from another bridge's network: REFUSED; a project's network sees its own project's names only, a shared one sees all", () => {
    expect(dig(vm3, "@10.20.0.2", "web-2.novalocal", "A").stdout).toContain("status: REFUSED");
    expect(short(vm3, "@10.40.0.2", "other-1.novalocal", "A")).toEqual([other.ports[0].address]);
    expect(dig(vm3, "@10.40.0.2", "web-2.novalocal", "A").stdout).toContain("status: NXDOMAIN");
    expect(dig(vm3, "@10.40.0.2", "-x", web2.ports[0].address).stdout).not.toContain("web-2");
    expect(short(vm1, "@10.20.0.2", "other-1.novalocal", "A")).toEqual([other.ports[0].address]);
  });

  test("from the internet namespace: no answer on the public address, nor on the bridge address routed through the host", () => {
    nsRun(internet, ["ip", "route", "add", "10.20.0.0/24", "via", "192.0.2.10"]);
    for (const target of ["192.0.2.10", "10.20.0.2"]) {
      const r = nsRun(internet, ["dig", "+time=1", "+tries=1", `@${target}`, "web-1.novalocal"], { check: false });
      expect(r.stdout).not.toContain("status:");
    }
    // The routed query never reached the server: the input rules dropped it.
    expect(nsRun(host, ["nft", "list", "counter", "inet", "netlet", "drop-dns"]).stdout).toMatch(/packets [1-9]/);
  });

  test("IPv6: the RA's RDNSS names the host's bridge address, which answers AAAA over IPv6", async () => {
    const addr = await waitFor(() => {
      const out = nsRun(vm1.ns, ["ip", "-6", "addr", "show", "dev", "eth0", "scope", "global"]).stdout;
      return out.includes(web1.ports[0].address_v6) && !out.includes("tentative");
    }, 20000);
    expect(addr).toBe(true);
    expect(nsRun(vm1.ns, ["rdisc6", "-1", "-w", "3000", "eth0"], { check: false }).stdout).toMatch(
      /Recursive DNS server\s*:\s*fd00:20::1/,
    );
    expect(await waitFor(() => short(vm1, "@fd00:20::1", "web-2.novalocal", "AAAA").join(), 8000)).toBe(
      web2.ports[0].address_v6,
    );
  }, 40_000);

  test("a deleted instance stops resolving, a new one resolves, within one reconcile pass", async () => {
    cli("delete", web2.uuid);
    expect(await waitFor(() => dig(vm1, "@10.20.0.2", "web-2.novalocal", "A").stdout.includes("NXDOMAIN"), 5000)).toBe(
      true,
    );
    const fresh = JSON.parse(cli("boot", "web-3", "--network", "private", "--json").stdout) as Booted;
    expect(await waitFor(() => short(vm1, "@10.20.0.2", "web-3.novalocal", "A").join(), 5000)).toBe(
      fresh.ports[0].address,
    );
  });

  test("netlet dns query, status and metrics report what the server does", () => {
    const q = JSON.parse(cli("dns", "query", "web-1.novalocal", "--json").stdout);
    expect(q.source).toBe("zone");
    expect(q.answers).toEqual([web1.ports[0].address]);
    expect(cli("dns", "query", "www.outside.example").stdout).toContain("198.51.100.80");
    expect(cli("dns", "query", web1.ports[0].address).stdout).toContain("web-1.novalocal");
    const bad = run([netletBinary(), "dns", "query", "no such name", "--socket", socket], { check: false });
    expect([bad.code, bad.stderr.trim().split("\n").length]).toEqual([2, 1]);
    expect(bad.stderr).toContain("name = no such name: expected a DNS name");
    expect(cli("status").stdout).toMatch(/dns: 10\.20\.0\.2 \(br100\) serving/);
    const metrics = nsRun(host, ["curl", "-s", "http://127.0.0.1:9775/metrics"]).stdout;
    expect(metrics).toMatch(/netlet_dns_queries_total\{rcode="NOERROR",source="zone",type="A"\} [1-9]/);
    expect(metrics).toMatch(/netlet_dns_cache_hits_total [1-9]/);
    expect(metrics).toMatch(/netlet_dns_dropped_total\{reason="other_network"\} [1-9]/);
    expect(metrics).toMatch(/netlet_dns_upstream_failures_total\{reason="timeout"\} [1-9]/);
    expect(metrics).toMatch(/netlet_dns_listeners\{state="serving"\} 3/);
  });

  test("port 53 taken on a bridge address: that listener shows as failing in status, alarms and metrics; the others keep serving", async () => {
    // The network first (a fixed network may not overlap an address the host already has), then
    // another server takes port 53 on the address netlet will give this host on its bridge.
    cli("network-create", "third", "--fixed-range-v4", "10.50.0.0/24", "--bridge", "br300");
    expect(await waitFor(() => nsRun(host, ["ip", "link", "show", "br300"], { check: false }).code === 0, 5000)).toBe(
      true,
    );
    nsRun(host, ["ip", "addr", "add", "10.50.0.2/24", "dev", "br300"]);
    lab.spawn(host, [
      "dnsmasq",
      "--keep-in-foreground",
      "--no-resolv",
      "--no-hosts",
      "--listen-address=10.50.0.2",
      "--bind-interfaces",
      "--port=53",
    ]);
    expect(await waitFor(() => nsRun(host, ["ss", "-uln"]).stdout.includes("10.50.0.2:53 "), 5000)).toBe(true);
    cli("boot", "third-1", "--network", "third");
    const st = await waitFor(() => {
      const j = JSON.parse(cli("status", "--json").stdout);
      return j.alarms.some((a: string) => a.includes("10.50.0.2")) ? j : null;
    }, 8000);
    expect(st.dns.find((l: { address: string }) => l.address === "10.50.0.2").state).toMatch(/^not listening/);
    expect(nsRun(host, ["curl", "-s", "http://127.0.0.1:9775/metrics"]).stdout).toMatch(
      /netlet_dns_listeners\{state="failing"\} 1/,
    );
    expect(short(vm1, "@10.20.0.2", "web-1.novalocal", "A")).toEqual([web1.ports[0].address]);
  });
});
