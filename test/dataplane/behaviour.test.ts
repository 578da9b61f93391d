/**
 * One behaviour suite, run against each firewall driver, with real packets: a host namespace
 * with a bridge, two VMs, a second host behind a dmz link and an "internet" namespace.
 *
 *   inet (203.0.113.2) ── pub ── host (br: 10.0.0.1, fd00:1::1) ── vm1 10.0.0.10, vm2 10.0.0.11
 *                                  └── dmz ── host2 (192.168.50.2, routes 10.0.0.0/24 back)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Registry } from "../../src/metrics.ts";
import { Dataplane } from "../../src/dataplane/apply.ts";
import {
  desiredFromFixture,
  type DesiredState,
  type FirewallDriver,
  type Fixture,
} from "../../src/dataplane/desired.ts";
import { eui64 } from "../../src/net/eui64.ts";
import { spawnExec } from "../../src/sys/exec.ts";
import { Links } from "../../src/dataplane/links-apply.ts";
import { Lab, nsRun, requireNetns, uniqueName, type Vm } from "../harness/netns.ts";
import { createLogger } from "../../src/log.ts";

const BUN = process.execPath;
const ECHO = join(import.meta.dir, "tcp-echo.ts");
const PROBE = join(import.meta.dir, "tcp-probe.ts");
const FIP = "203.0.113.10";
const MAC1 = "fa:16:3e:00:00:0a";
const MAC2 = "fa:16:3e:00:00:0b";
const V6NET = "fd00:1::/64";

/** TCP probe from `ns`: the listener's view of our address, or "TIMEOUT"/"ERROR …". */
async function probe(
  ns: string,
  host: string,
  port: number,
  opts: { source?: string; timeout?: number } = {},
): Promise<string> {
  const r = await spawnExec(["ip", "netns", "exec", ns])([
    BUN,
    PROBE,
    host,
    String(port),
    opts.source ?? "",
    String(opts.timeout ?? 1000),
  ]);
  return r.stdout.trim();
}

async function ping(ns: string, addr: string): Promise<boolean> {
  return (await spawnExec(["ip", "netns", "exec", ns])(["ping", "-c1", "-W1", addr])).code === 0;
}

async function listen(lab: Lab, ns: string, ports: number[]): Promise<void> {
  const p = lab.spawn(ns, [BUN, ECHO, ...ports.map(String)]);
  const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
  await reader.read(); // "ready"
  reader.releaseLock();
}

function behaviourSuite(driver: FirewallDriver) {
  describe.skipIf(!requireNetns())(`dataplane behaviour (${driver})`, () => {
    const lab = new Lab();
    let host = "",
      inet = "",
      host2 = "",
      pub = "",
      br = "";
    let vm1: Vm, vm2: Vm;
    let dp: Dataplane, links: Links;
    const lines: string[] = [];
    let fixture: Fixture;

    const desired = (over: Partial<Fixture> = {}): DesiredState => desiredFromFixture({ ...fixture, ...over });
    const apply = async (d: DesiredState) => {
      await links.apply(d);
      await dp.update(d);
    };

    beforeAll(async () => {
      host = lab.addNamespace("nldbh");
      inet = lab.addNamespace("nldbi");
      host2 = lab.addNamespace("nldb2");
      br = uniqueName("nlbr");
      lab.addBridge(host, br, ["10.0.0.1/24"]);
      nsRun(host, ["ip", "-6", "addr", "add", "fd00:1::1/64", "dev", br, "nodad"]);
      [pub] = lab.link(host, inet, { addrA: "203.0.113.1/24", addrB: "203.0.113.2/24" });
      lab.link(host, host2, { addrA: "192.168.50.1/24", addrB: "192.168.50.2/24" });
      nsRun(host2, ["ip", "route", "add", "10.0.0.0/24", "via", "192.168.50.1"]);
      vm1 = lab.addVm(host, { bridge: br, mac: MAC1 });
      vm2 = lab.addVm(host, { bridge: br, mac: MAC2 });
      for (const [vm, ip, mac] of [
        [vm1, "10.0.0.10", MAC1],
        [vm2, "10.0.0.11", MAC2],
      ] as const) {
        nsRun(vm.ns, ["ip", "addr", "add", `${ip}/24`, "dev", "eth0"]);
        nsRun(vm.ns, ["ip", "route", "add", "default", "via", "10.0.0.1"]);
        nsRun(vm.ns, ["ip", "-6", "addr", "add", `${eui64(mac, V6NET)}/64`, "dev", "eth0", "nodad"]);
      }
      fixture = {
        config: {
          publicInterface: pub,
          routingSourceIp: "203.0.113.1",
          dmzCidr: ["192.168.50.0/24"],
          allowSameNetTraffic: false,
          firewallDriver: driver,
        },
        networks: [
          {
            id: "n1",
            bridge: br,
            cidr: "10.0.0.0/24",
            cidrV6: V6NET,
            hostAddress: "10.0.0.1",
            hostAddressV6: "fd00:1::1",
          },
        ],
        instances: [
          { uuid: "vm1", groups: ["web"], vifs: [{ mac: MAC1, network: "n1", ipv4: "10.0.0.10", port: vm1.hostIf }] },
          {
            uuid: "vm2",
            groups: ["db", "out"],
            vifs: [{ mac: MAC2, network: "n1", ipv4: "10.0.0.11", port: vm2.hostIf }],
          },
        ],
        groups: [
          {
            id: "web",
            name: "web",
            rules: [
              {
                direction: "ingress",
                ethertype: "IPv4",
                protocol: "tcp",
                fromPort: 22,
                toPort: 22,
                cidr: "0.0.0.0/0",
                sourceGroupId: null,
              },
              {
                direction: "ingress",
                ethertype: "IPv4",
                protocol: "icmp",
                fromPort: -1,
                toPort: -1,
                cidr: "0.0.0.0/0",
                sourceGroupId: null,
              },
            ],
          },
          {
            id: "db",
            name: "db",
            rules: [
              {
                direction: "ingress",
                ethertype: "IPv4",
                protocol: "tcp",
                fromPort: 5432,
                toPort: 5432,
                cidr: null,
                sourceGroupId: "web",
              },
            ],
          },
          {
            id: "out",
            name: "out",
            rules: [
              {
                direction: "egress",
                ethertype: "IPv4",
                protocol: "tcp",
                fromPort: 7000,
                toPort: 7000,
                cidr: "0.0.0.0/0",
                sourceGroupId: null,
              },
            ],
          },
        ],
        floatingIps: [{ address: FIP, fixedAddress: "10.0.0.10", interface: pub }],
      };
      // A foreign table / chain that every sync must leave alone.
      nsRun(host, ["nft", "-f", "-"], {
        input:
          "add table inet foreign\nadd chain inet foreign c { type filter hook input priority 5; }\nadd rule inet foreign c tcp dport 9 counter accept\n",
      });
      nsRun(host, ["iptables", "-N", "foreign"]);
      nsRun(host, ["iptables", "-A", "foreign", "-p", "tcp", "--dport", "9", "-j", "ACCEPT"]);
      const exec = spawnExec(["ip", "netns", "exec", host]);
      dp = new Dataplane({ exec, registry: new Registry(), log: createLogger({ write: (l) => lines.push(l) }) });
      links = new Links({ exec, log: createLogger({ write: (l) => lines.push(l) }) });
      await apply(desired());
      await listen(lab, inet, [7000, 7001]);
      await listen(lab, host2, [7000]);
      await listen(lab, host, [8775]);
      await listen(lab, vm1.ns, [22, 23]);
      await listen(lab, vm2.ns, [22, 5432]);
    }, 30000);
    afterAll(() => lab.cleanup());

    test("VM traffic to the internet is SNATed to routing_source_ip, not toward dmz_cidr", async () => {
      expect(await probe(vm2.ns, "203.0.113.2", 7000)).toBe("203.0.113.1");
      expect(await probe(vm2.ns, "192.168.50.2", 7000)).toBe("10.0.0.11");
    }, 30000);

    test("metadata DNAT reaches the listener on the host's bridge address with the VM's source", async () => {
      expect(await probe(vm1.ns, "169.254.169.254", 80)).toBe("10.0.0.10");
    }, 30000);

    test("floating IP answers ping and TCP from the internet; VM outbound leaves with it", async () => {
      expect(await ping(inet, FIP)).toBe(true);
      expect(await probe(inet, FIP, 22)).toBe("203.0.113.2");
      expect(await probe(vm1.ns, "203.0.113.2", 7000)).toBe(FIP);
    }, 30000);

    test("security groups: tcp 22 and icmp from anywhere, the rest dropped, both directions", async () => {
      expect(await probe(inet, FIP, 23)).toBe("TIMEOUT");
      expect(await probe(vm1.ns, "10.0.0.11", 22)).toBe("TIMEOUT"); // db has no port 22
      expect(await ping(vm1.ns, "10.0.0.11")).toBe(false); // nor icmp
      expect(await ping(vm2.ns, "10.0.0.10")).toBe(false); // egress of vm2: only tcp 7000
      expect(await probe(vm2.ns, "203.0.113.2", 7001)).toBe("TIMEOUT"); // egress drop
      expect(await probe(vm2.ns, "203.0.113.2", 7000)).toBe("203.0.113.1");
    }, 30000);

    test("a source-group rule follows group membership", async () => {
      expect(await probe(vm1.ns, "10.0.0.11", 5432)).toBe("10.0.0.10");
      await apply(desired({ members: { web: { v4: [], v6: [] } } }));
      expect(await probe(vm1.ns, "10.0.0.11", 5432)).toBe("TIMEOUT");
      await apply(desired());
      expect(await probe(vm1.ns, "10.0.0.11", 5432)).toBe("10.0.0.10");
    }, 30000);

    test("forged MAC, IPv4, ARP and IPv6 sources are dropped while legit traffic passes", async () => {
      // IPv4
      nsRun(vm1.ns, ["ip", "addr", "add", "10.0.0.99/24", "dev", "eth0"]);
      expect(await probe(vm1.ns, "10.0.0.1", 8775, { source: "10.0.0.10" })).toBe("10.0.0.10");
      expect(await probe(vm1.ns, "10.0.0.1", 8775, { source: "10.0.0.99" })).toBe("TIMEOUT");
      nsRun(vm1.ns, ["ip", "addr", "del", "10.0.0.99/24", "dev", "eth0"]);
      // IPv6: EUI-64 passes, another address in the prefix does not.
      nsRun(vm1.ns, ["ip", "-6", "addr", "add", "fd00:1::99/64", "dev", "eth0", "nodad"]);
      expect(await probe(vm1.ns, "fd00:1::1", 8775, { source: eui64(MAC1, V6NET) })).toBe(eui64(MAC1, V6NET));
      expect(await probe(vm1.ns, "fd00:1::1", 8775, { source: "fd00:1::99" })).toBe("TIMEOUT");
      nsRun(vm1.ns, ["ip", "-6", "addr", "del", "fd00:1::99/64", "dev", "eth0"]);
      // ARP: vm1 claims vm2's address; the host's neighbour entry must not move to vm1's MAC.
      await ping(host, "10.0.0.11");
      nsRun(vm1.ns, ["arping", "-U", "-P", "-q", "-c", "1", "-i", "eth0", "-S", "10.0.0.11", "10.0.0.11"], {
        check: false,
      });
      expect(nsRun(host, ["ip", "neigh", "show", "10.0.0.11"]).stdout).not.toContain(MAC1);
      // MAC
      nsRun(vm1.ns, ["ip", "link", "set", "eth0", "address", "fa:16:3e:00:00:99"]);
      expect(await probe(vm1.ns, "10.0.0.1", 8775)).toBe("TIMEOUT");
      nsRun(vm1.ns, ["ip", "link", "set", "eth0", "address", MAC1]);
      expect(await probe(vm1.ns, "10.0.0.1", 8775)).toBe("10.0.0.10");
      // A router advertisement from a VM never reaches the bridge.
      nsRun(vm1.ns, ["/usr/bin/python3", join(import.meta.dir, "send-ra.py"), "eth0"]);
      const drops = await dp.readDrops();
      for (const reason of ["spoof-ip4", "spoof-ip6", "spoof-arp", "spoof-mac", "drop-ra", "drop-ingress"])
        expect(`${reason} ${drops[reason] > 0}`).toBe(`${reason} true`);
    }, 30000);

    test("disassociating the floating IP stops it at once", async () => {
      expect(await ping(inet, FIP)).toBe(true); // a live conntrack entry
      await apply(desired({ floatingIps: [] }));
      expect(await ping(inet, FIP)).toBe(false);
      expect(await probe(inet, FIP, 22)).toBe("TIMEOUT");
      expect(await probe(vm1.ns, "203.0.113.2", 7000)).toBe("203.0.113.1");
      await apply(desired());
      expect(await probe(inet, FIP, 22)).toBe("203.0.113.2");
    }, 30000);

    test("foreign rules survive every sync; a flushed netlet table is restored", async () => {
      await dp.sync(desired());
      expect(nsRun(host, ["nft", "list", "table", "inet", "foreign"]).stdout).toContain("tcp dport 9 counter");
      expect(nsRun(host, ["iptables-save", "-t", "filter"]).stdout).toContain(
        "-A foreign -p tcp -m tcp --dport 9 -j ACCEPT",
      );
      nsRun(host, ["nft", "flush", "table", "bridge", "netlet"]);
      if (driver === "nftables") nsRun(host, ["nft", "flush", "table", "inet", "netlet"]);
      else nsRun(host, ["iptables", "-F", "netlet-FORWARD"]);
      expect(await probe(inet, FIP, 23)).toBe("203.0.113.2"); // the flush really opened it
      expect(await dp.reconcile()).toBe(true);
      expect(lines.some((l) => l.includes("drift detected"))).toBe(true);
      expect(await probe(inet, FIP, 23)).toBe("TIMEOUT");
      expect(await dp.drift()).toEqual([]);
    }, 30000);
  });
}

behaviourSuite("nftables");
behaviourSuite("iptables");
