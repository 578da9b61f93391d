/**
 * The L2 guard attacked with real frames. The real agent serves one dual-stack network in a
 * host namespace; a victim and an attacker are instances with declared ports, a rogue sits on
 * an undeclared port of the same bridge. Each test forges what a hostile guest would (Debian's
 * scapy, test/dataplane/forge.py) and asserts what the victim and the host received, and that
 * the legitimate traffic next to it (DHCP, SLAAC, metadata, guest to guest) keeps working.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { netletBinary } from "../harness/binary.ts";
import { Lab, nsRun, requireNetns, run, waitFor, type Vm } from "../harness/netns.ts";

const FORGE = join(import.meta.dir, "..", "dataplane", "forge.py");
const PY = "/usr/bin/python3";
const UDHCPC = `#!/bin/sh
case "$1" in bound|renew)
  ip addr flush dev "$interface" scope global; ip addr add "$ip/$mask" dev "$interface"
  ip route replace 169.254.169.254 via "$router" dev "$interface"
  echo "lease ip=$ip router=$router" ;;
esac
`;

interface Inst {
  uuid: string;
  name: string;
  ports: { mac: string; address: string; address_v6: string; port: string | null }[];
}

/**
 * The guard is the same nft bridge table under both firewall drivers; metadata DNAT and security
 * groups differ, so the iptables run repeats the cases that read another guest's metadata.
 */
function guardSuite(driver: "nftables" | "iptables", full: boolean) {
  describe.skipIf(!requireNetns())(`declared ports under attack (real agent, forged frames, ${driver})`, () => {
    // Cases the drivers share are registered once (under nftables), not skipped.
    const only = full ? test : ((() => {}) as unknown as typeof test);
    const lab = new Lab();
    const dir = mkdtempSync(join(tmpdir(), "netlet-guard-"));
    const socket = join(dir, "netlet.sock");
    const cli = (...a: string[]) => run([netletBinary(), ...a, "--socket", socket], { check: false });
    const ok = (...a: string[]) => {
      const r = cli(...a);
      if (r.code !== 0) throw new Error(`netlet ${a.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    let host = "";
    let victim: Vm, attacker: Vm, rogue: Vm;
    let vi: Inst, ai: Inst;
    let gateway = "";
    const script = join(dir, "udhcpc.sh");

    const dhcp = (vm: Vm) =>
      nsRun(vm.ns, ["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "3", "-T", "1", "-s", script], {
        check: false,
      }).stdout;
    const instanceId = (vm: Vm) => {
      const r = nsRun(vm.ns, ["curl", "-s", "-m", "2", "http://169.254.169.254/openstack/latest/meta_data.json"], {
        check: false,
      });
      return r.code === 0 && r.stdout.startsWith("{") ? (JSON.parse(r.stdout) as { uuid: string }).uuid : null;
    };
    const forge = (vm: Vm, kind: string, args: Record<string, string>) =>
      nsRun(vm.ns, [PY, FORGE, "eth0", kind, ...Object.entries(args).map(([k, v]) => `${k}=${v}`)]);
    const neigh = (addr: string) => nsRun(host, ["ip", "neigh", "show", addr, "dev", "br100"], { check: false }).stdout;
    const counter = (name: string) => {
      const r = nsRun(host, ["nft", "-j", "list", "counter", "bridge", "netlet", name]).stdout;
      return (JSON.parse(r).nftables.find((o: { counter?: unknown }) => o.counter).counter as { packets: number })
        .packets;
    };
    const setMac = (vm: Vm, mac: string, ip: string) => {
      nsRun(vm.ns, ["ip", "link", "set", "eth0", "down"]);
      nsRun(vm.ns, ["ip", "link", "set", "eth0", "address", mac]);
      nsRun(vm.ns, ["ip", "addr", "flush", "dev", "eth0"]);
      nsRun(vm.ns, ["ip", "addr", "add", `${ip}/24`, "dev", "eth0"]);
      nsRun(vm.ns, ["ip", "link", "set", "eth0", "up"]);
      nsRun(vm.ns, ["ip", "route", "replace", "169.254.169.254", "via", gateway]);
    };

    beforeAll(async () => {
      host = lab.addNamespace("nlpg");
      const conf = join(dir, "netlet.conf");
      writeFileSync(
        conf,
        `[DEFAULT]\nhost = pg\nstate_path = ${dir}/state\nmy_ip = 192.0.2.10\nuse_ipv6 = true\npublic_interface = lo\nfirewall_driver = ${driver}\n`,
      );
      writeFileSync(script, UDHCPC, { mode: 0o755 });
      lab.spawn(host, [netletBinary(), "agent", "--config", conf, "--socket", socket]);
      expect(await waitFor(() => cli("status").code === 0, 10000)).toBe(true);
      ok(
        "network-create",
        "private",
        "--fixed-range-v4",
        "10.66.0.0/24",
        "--fixed-range-v6",
        "fd00:66::/64",
        "--bridge",
        "br100",
      );
      // The bridge exists before the first instance, so a hypervisor can attach a tap to it.
      expect(await waitFor(() => nsRun(host, ["ip", "link", "show", "br100"], { check: false }).code === 0, 5000)).toBe(
        true,
      );
      vi = JSON.parse(ok("boot", "victim", "--json"));
      ai = JSON.parse(ok("boot", "attacker", "--json"));
      victim = lab.addVm(host, { bridge: "br100", mac: vi.ports[0].mac });
      attacker = lab.addVm(host, { bridge: "br100", mac: ai.ports[0].mac });
      rogue = lab.addVm(host, { bridge: "br100", mac: "fa:16:3e:66:66:66" });
      ok("plug", "victim", "--port", victim.hostIf);
      ok("plug", "attacker", "--port", attacker.hostIf);
      for (const vm of [victim, attacker]) {
        nsRun(vm.ns, ["sysctl", "-qw", "net.ipv6.conf.eth0.accept_ra=1"]);
        const lease = dhcp(vm);
        expect(lease).toContain("lease ip=");
        gateway = /router=(\S+)/.exec(lease)![1];
      }
    }, 60_000);

    afterAll(async () => {
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    test("legitimate traffic passes: lease, metadata of the guest's own instance, SLAAC address, guest to guest", async () => {
      expect(instanceId(victim)).toBe(vi.uuid);
      expect(instanceId(attacker)).toBe(ai.uuid);
      const v6 = await waitFor(
        () =>
          nsRun(victim.ns, ["ip", "-6", "addr", "show", "dev", "eth0", "scope", "global"]).stdout.includes(
            vi.ports[0].address_v6,
          ),
        15000,
      );
      expect(v6).toBe(true);
      expect(nsRun(attacker.ns, ["ping", "-c1", "-W2", vi.ports[0].address], { check: false }).code).toBe(0);
    }, 30_000);

    test("an undeclared port gets nothing: no lease, no metadata, no ARP claim on the victim's address", () => {
      const before = counter("undeclared-port");
      expect(dhcp(rogue)).not.toContain("lease ip=");
      setMac(rogue, "fa:16:3e:66:66:66", vi.ports[0].address);
      forge(rogue, "arp-claim", { src: "fa:16:3e:66:66:66", ip: vi.ports[0].address });
      expect(instanceId(rogue)).toBeNull();
      expect(neigh(vi.ports[0].address)).not.toContain("fa:16:3e:66:66:66");
      // With the victim's own MAC as well: still nothing.
      setMac(rogue, vi.ports[0].mac, vi.ports[0].address);
      expect(instanceId(rogue)).toBeNull();
      expect(nsRun(rogue.ns, ["ping", "-c1", "-W1", ai.ports[0].address], { check: false }).code).not.toBe(0);
      expect(counter("undeclared-port")).toBeGreaterThan(before);
      // The victim keeps its binding and its metadata.
      expect(instanceId(victim)).toBe(vi.uuid);
    }, 30_000);

    test("another declared port cannot take the victim's MAC or address, and the binding never moves", () => {
      const mac = ai.ports[0].mac;
      setMac(attacker, vi.ports[0].mac, vi.ports[0].address);
      forge(attacker, "arp-claim", { src: vi.ports[0].mac, ip: vi.ports[0].address });
      expect(instanceId(attacker)).toBeNull();
      expect(instanceId(victim)).toBe(vi.uuid);
      // Its own MAC with the victim's address: refused too.
      setMac(attacker, mac, vi.ports[0].address);
      forge(attacker, "arp-claim", { src: mac, ip: vi.ports[0].address });
      expect(instanceId(attacker)).toBeNull();
      expect(neigh(vi.ports[0].address)).not.toContain(mac);
      setMac(attacker, mac, ai.ports[0].address);
      expect(instanceId(attacker)).toBe(ai.uuid);
    }, 30_000);

    only(
      "neighbour advertisements: none from ::, none for another guest's address",
      () => {
        const target = vi.ports[0].address_v6;
        nsRun(host, ["ping", "-6", "-c1", "-W2", target], { check: false });
        expect(neigh(target)).toContain(vi.ports[0].mac);
        const before = counter("spoof-ip6") + counter("spoof-nd");
        forge(attacker, "na", { src: ai.ports[0].mac, src6: "::", target, lladdr: ai.ports[0].mac });
        const ll = nsRun(attacker.ns, ["ip", "-6", "addr", "show", "dev", "eth0", "scope", "link"]).stdout.match(
          /inet6 (fe80::[0-9a-f:]+)/,
        )![1];
        forge(attacker, "na", { src: ai.ports[0].mac, src6: ll, target, lladdr: ai.ports[0].mac });
        expect(neigh(target)).toContain(vi.ports[0].mac);
        expect(neigh(target)).not.toContain(ai.ports[0].mac);
        expect(counter("spoof-ip6") + counter("spoof-nd")).toBeGreaterThanOrEqual(before + 6);
      },
      30_000,
    );

    only(
      "a guest is no DHCP server and no router: rogue OFFERs and RAs never reach the victim",
      async () => {
        // DHCP server replies and RAs (ICMPv6 type 134) from the attacker; its router solicitations are legitimate.
        const cap = Bun.spawn(
          [
            "ip",
            "netns",
            "exec",
            victim.ns,
            "timeout",
            "4",
            "tcpdump",
            "-l",
            "-n",
            "-e",
            "-i",
            "eth0",
            `ether src ${ai.ports[0].mac} and (udp src port 67 or (icmp6 and ip6[40] == 134))`,
          ],
          { stdout: "pipe", stderr: "pipe" },
        );
        await Bun.sleep(800);
        const before = counter("rogue-dhcp") + counter("drop-ra");
        forge(attacker, "dhcp-offer", { src: ai.ports[0].mac, ip: ai.ports[0].address });
        forge(attacker, "ra", { src: ai.ports[0].mac });
        const seen = await new Response(cap.stdout).text();
        await cap.exited;
        expect(seen.trim()).toBe("");
        expect(counter("rogue-dhcp") + counter("drop-ra")).toBeGreaterThanOrEqual(before + 6);
        expect(nsRun(victim.ns, ["ip", "-6", "addr", "show", "dev", "eth0"]).stdout).not.toContain("2001:db8:bad");
        expect(nsRun(victim.ns, ["ip", "-6", "route", "show", "default"]).stdout).not.toContain("fe80::bad");
      },
      30_000,
    );

    only(
      "a forged DECLINE or RELEASE for the victim's MAC changes nothing; the victim still renews",
      () => {
        const args = {
          src: ai.ports[0].mac,
          ip: ai.ports[0].address,
          chaddr: vi.ports[0].mac,
          ciaddr: vi.ports[0].address,
          server: gateway,
        };
        forge(attacker, "dhcp-release", args);
        forge(attacker, "dhcp-decline", args);
        const leases = JSON.parse(ok("dhcp", "leases", "--json")) as { mac: string; state: string }[];
        expect(leases.find((l) => l.mac === vi.ports[0].mac)?.state).toBe("leased");
        expect(counter("spoof-dhcp")).toBeGreaterThanOrEqual(6);
        expect(dhcp(victim)).toContain(`lease ip=${vi.ports[0].address}`);
      },
      30_000,
    );

    only(
      "a guest silent for longer than the bridge's ageing time stays bound",
      async () => {
        nsRun(host, ["ip", "link", "set", "br100", "type", "bridge", "ageing_time", "100"]);
        // Silent: its link down, the guest sends nothing while its entry ages out.
        nsRun(victim.ns, ["ip", "link", "set", "eth0", "down"]);
        await Bun.sleep(1500);
        nsRun(host, ["bridge", "fdb", "del", vi.ports[0].mac, "dev", victim.hostIf, "master"], { check: false });
        expect(nsRun(host, ["bridge", "fdb", "show", "br", "br100"]).stdout).not.toContain(vi.ports[0].mac);
        setMac(attacker, vi.ports[0].mac, vi.ports[0].address);
        expect(instanceId(attacker)).toBeNull();
        setMac(attacker, ai.ports[0].mac, ai.ports[0].address);
        nsRun(victim.ns, ["ip", "link", "set", "eth0", "up"]);
        nsRun(victim.ns, ["ip", "route", "replace", "169.254.169.254", "via", gateway]);
        expect(await waitFor(() => instanceId(victim) === vi.uuid, 10000, 200)).toBe(true);
      },
      30_000,
    );

    only(
      "a fresh port passes nothing before plug returns, and legit traffic right after",
      () => {
        const late = JSON.parse(ok("boot", "late", "--json")) as Inst;
        const vm = lab.addVm(host, { bridge: "br100", mac: late.ports[0].mac });
        expect(dhcp(vm)).not.toContain("lease ip=");
        ok("plug", "late", "--port", vm.hostIf);
        expect(dhcp(vm)).toContain(`lease ip=${late.ports[0].address}`);
        expect(instanceId(vm)).toBe(late.uuid);
        // Unplugged: the traffic stops, the address stays with the instance.
        ok("unplug", "late");
        expect(instanceId(vm)).toBeNull();
        const after = JSON.parse(ok("show", "late", "--json")) as Inst;
        expect([after.ports[0].address, after.ports[0].port]).toEqual([late.ports[0].address, null]);
      },
      30_000,
    );

    only(
      "a removed binding, a flushed chain and a deleted table are restored within 2 s",
      async () => {
        const has = () =>
          nsRun(host, ["nft", "list", "set", "bridge", "netlet", "vm-ports"], { check: false }).stdout.includes(
            `"${victim.hostIf}"`,
          );
        for (const cmd of [
          ["nft", "delete", "element", "bridge", "netlet", "vm-ports", `{ "${victim.hostIf}" }`],
          ["nft", "flush", "chain", "bridge", "netlet", "prerouting"],
          ["nft", "delete", "table", "bridge", "netlet"],
        ]) {
          nsRun(host, cmd);
          const t0 = Date.now();
          const back = await waitFor(
            () =>
              has() &&
              nsRun(host, ["nft", "list", "chain", "bridge", "netlet", "prerouting"], { check: false }).stdout.includes(
                "undeclared-port",
              ),
            5000,
            50,
          );
          expect([cmd.join(" "), back, Date.now() - t0 <= 2000]).toEqual([cmd.join(" "), true, true]);
        }
        // The victim's neighbour entries recover from the seconds its frames were dropped.
        expect(await waitFor(() => instanceId(victim) === vi.uuid, 10000, 200)).toBe(true);
      },
      30_000,
    );

    only(
      "bad plugs are refused with one line and change nothing",
      () => {
        // Exit 2: the input is wrong (HTTP 400); exit 1: it conflicts with the state (404, 409).
        const cases: [string[], number, RegExp][] = [
          [["plug", "nosuch", "--port", "tapx"], 1, /instance nosuch not found/],
          [["plug", "attacker", "--port", 'b"ad'], 2, /is not a valid interface name/],
          [["plug", "attacker", "--port", "x".repeat(16)], 2, /is not a valid interface name/],
          [["plug", "attacker", "--port", victim.hostIf], 1, /already plugged for instance victim/],
          [["plug", "attacker", "--port", "tapz", "--mac", vi.ports[0].mac], 2, /is not a port of instance attacker/],
          [["unplug", "attacker", "--port", "tapz"], 1, /is not plugged/],
          [["plug", "attacker"], 2, /--port IFNAME is required/],
        ];
        for (const [args, code, msg] of cases) {
          const r = cli(...args);
          expect([args.join(" "), r.code, msg.test(r.stderr) ? "ok" : r.stderr]).toEqual([args.join(" "), code, "ok"]);
          expect(r.stderr.trim().split("\n").length).toBe(1);
        }
        const shown = JSON.parse(ok("show", "attacker", "--json")) as Inst;
        expect(shown.ports[0].port).toBe(attacker.hostIf);
      },
      30_000,
    );
  });
}

guardSuite("nftables", true);
guardSuite("iptables", false);
