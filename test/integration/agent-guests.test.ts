/**
 * The whole product on one host: the real agent binary in a host namespace; guests that
 * configure themselves with a DHCP client, the kernel's SLAAC and Debian's cloud-init crawling
 * 169.254.169.254 through the agent's own DNAT. Nothing here is a fixture of a module.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Lab, nsRun, requireNetns, run, waitFor, type Vm } from "../harness/netns.ts";
import { netletBinary } from "../harness/binary.ts";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl demo@host";
const CRAWL = join(import.meta.dir, "..", "metadata", "cloudinit_crawl.py");
const UDHCPC = `#!/bin/sh
case "$1" in bound|renew)
  ip addr flush dev "$interface" scope global; ip addr add "$ip/$mask" dev "$interface"
  set -- $staticroutes; while [ $# -ge 2 ]; do ip route replace "$1" via "$2" dev "$interface"; shift 2; done
  echo "lease ip=$ip router=$router dns=$dns domain=$domain hostname=$hostname search=$search" ;;
esac
`;

describe.skipIf(!requireNetns())("agent with real guests (DHCP, SLAAC, cloud-init)", () => {
  const lab = new Lab();
  const dir = mkdtempSync(join(tmpdir(), "netlet-guests-"));
  const socket = join(dir, "netlet.sock");
  const cli = (...a: string[]) => run([netletBinary(), ...a, "--socket", socket]);
  let host = "";
  let vm: Vm;
  let inst: { uuid: string; hostname: string; ports: { mac: string; address: string; address_v6: string }[] };

  beforeAll(async () => {
    host = lab.addNamespace("nlgh");
    lab.addBridge(host, "br100");
    const conf = join(dir, "netlet.conf");
    writeFileSync(
      conf,
      `[DEFAULT]\nhost = gh\nstate_path = ${dir}/state\nmy_ip = 192.0.2.10\nuse_ipv6 = true\npublic_interface = lo\n`,
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
    );
    writeFileSync(join(dir, "key.pub"), `${KEY}\n`);
    cli("keypair-add", "demo", "--pub-key", join(dir, "key.pub"));
    writeFileSync(join(dir, "user-data"), "#cloud-config\nhostname: from-user-data\n");
    inst = JSON.parse(
      cli("boot", "web-1", "--key-name", "demo", "--user-data", join(dir, "user-data"), "--json").stdout,
    );
    vm = lab.addVm(host, { bridge: "br100", mac: inst.ports[0].mac });
    // The guest's veth passes traffic only once it is declared as the VIF's port.
    cli("plug", "web-1", "--port", vm.hostIf);
    nsRun(vm.ns, ["sysctl", "-qw", "net.ipv6.conf.eth0.accept_ra=1"]);
    // cloud-init probes DNS; a resolver that answers "refused" at once keeps the crawl fast.
    mkdirSync(`/etc/netns/${vm.ns}`, { recursive: true });
    writeFileSync(`/etc/netns/${vm.ns}/resolv.conf`, "nameserver 127.0.0.1\n");
    writeFileSync(join(dir, "udhcpc.sh"), UDHCPC, { mode: 0o755 });
  }, 60_000);

  afterAll(async () => {
    await lab.cleanup();
    if (vm) rmSync(`/etc/netns/${vm.ns}`, { recursive: true, force: true });
  });

  test("busybox udhcpc gets the stored address, router, DNS, domain, hostname and the metadata route", () => {
    const r = nsRun(
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
        "staticroutes",
        "-O",
        "search",
      ],
      { check: false },
    );
    expect(r.stdout).toContain(
      `lease ip=${inst.ports[0].address} router=10.20.0.2 dns=10.20.0.2 domain=novalocal hostname=web-1.novalocal search=novalocal`,
    );
    expect(nsRun(vm.ns, ["ip", "route", "get", "169.254.169.254"]).stdout).toContain("via 10.20.0.2");
    const leases = JSON.parse(cli("dhcp", "leases", "--json").stdout);
    expect(leases.map((l: { mac: string; state: string }) => [l.mac, l.state])).toEqual([
      [inst.ports[0].mac, "leased"],
    ]);
  });

  test("the kernel forms exactly the EUI-64 address netlet stored, with a default route via the bridge's link-local", async () => {
    const want = inst.ports[0].address_v6;
    const got = await waitFor(() => {
      const out = nsRun(vm.ns, ["ip", "-6", "addr", "show", "dev", "eth0", "scope", "global"]).stdout;
      return out.includes(`${want}/64`) && !out.includes("tentative") ? out : "";
    }, 20000);
    expect(got).toContain(want);
    const hostLl = /inet6 (fe80::[0-9a-f:]+)\/64/.exec(
      nsRun(host, ["ip", "-6", "addr", "show", "dev", "br100"]).stdout,
    )![1];
    expect(nsRun(vm.ns, ["ip", "-6", "route", "show", "default"]).stdout).toContain(`via ${hostLl}`);
  });

  test("Debian's cloud-init crawls 169.254.169.254 through the agent's DNAT and finds this instance", () => {
    const r = nsRun(vm.ns, ["/usr/bin/python3", CRAWL, "http://169.254.169.254", inst.ports[0].mac], { check: false });
    const line = r.stdout.split("\n").find((l) => l.startsWith("RESULT "));
    expect(line ? "found" : r.stderr.slice(-2000)).toBe("found");
    const out = JSON.parse(line!.slice(7));
    expect(out.openstack.ok).toBe(true);
    expect(out.openstack.instance_id).toBe(inst.uuid);
    expect(out.openstack.hostname).toBe("web-1.novalocal");
    expect(out.openstack.keys).toEqual([KEY]);
    expect(out.openstack.userdata).toBe("#cloud-config\nhostname: from-user-data\n");
    expect(out.openstack.net?.config?.length).toBeGreaterThan(0);
    expect(out.ec2.ok).toBe(true);
    expect(out.ec2.local_ipv4).toBe(inst.ports[0].address);
  }, 60_000);
});
