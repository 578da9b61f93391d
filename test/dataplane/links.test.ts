import { describe, expect, test, afterAll } from "bun:test";
import { desiredFromFixture } from "../../src/dataplane/desired.ts";
import { spawnExec } from "../../src/sys/exec.ts";
import { planLinks, type LinkSnapshot } from "../../src/dataplane/links.ts";
import { Links } from "../../src/dataplane/links-apply.ts";
import { Lab, nsRun, requireNetns } from "../harness/netns.ts";
import { createLogger } from "../../src/log.ts";

const empty = (): LinkSnapshot => ({ links: [], addrs: [], routes: [], flood: {}, sysctl: {} });
const argv = (s: { argv: string[] }[]) => s.map((x) => x.argv.join(" "));

describe("planLinks", () => {
  test("VLAN mode plans vlan<N> on vlan_interface, enslaved, with MTU, bridge first", () => {
    const d = desiredFromFixture({
      config: { vlanInterface: "eth1", networkDeviceMtu: 9000, firewallDriver: "noop" },
      networks: [{ id: "n", bridge: "br100", cidr: "10.0.0.0/24", hostAddress: "10.0.0.1", vlan: 100 }],
    });
    const cur = { ...empty(), sysctl: { "net.ipv4.ip_forward": "1" } };
    expect(argv(planLinks(d, cur))).toEqual([
      "ip link add br100 type bridge forward_delay 0 stp_state 0",
      "ip link set br100 mtu 9000",
      "ip link add link eth1 name vlan100 type vlan id 100",
      "ip link set vlan100 mtu 9000",
      "ip link set vlan100 master br100",
      "ip link set vlan100 up",
      "ip addr add 10.0.0.1/24 dev br100",
      "ip link set br100 up",
    ]);
  });

  test("a dual-stack network turns on IPv6 forwarding and keeps the uplink accepting RAs (accept_ra 2)", () => {
    const d = desiredFromFixture({
      config: { firewallDriver: "noop", publicInterface: "eth0" },
      networks: [
        {
          id: "n",
          bridge: "br1",
          cidr: "10.0.0.0/24",
          cidrV6: "fd00:1::/64",
          hostAddress: "10.0.0.1",
          hostAddressV6: "fd00:1::1",
        },
      ],
    });
    const steps = argv(planLinks(d, { ...empty(), sysctl: { "net.ipv4.ip_forward": "1" } }));
    expect(steps).toContain("sysctl -w net.ipv6.conf.all.forwarding=1");
    expect(steps).toContain("sysctl -w net.ipv6.conf.eth0.accept_ra=2");
    const v4only = desiredFromFixture({
      config: { firewallDriver: "noop" },
      networks: [{ id: "n", bridge: "br1", cidr: "10.0.0.0/24", hostAddress: "10.0.0.1" }],
    });
    expect(
      argv(planLinks(v4only, { ...empty(), sysctl: { "net.ipv4.ip_forward": "1" } })).some((x) => x.includes("ipv6")),
    ).toBe(false);
  });

  test("the host address is moved first; other addresses are kept after it", () => {
    const d = desiredFromFixture({
      config: { firewallDriver: "noop" },
      networks: [{ id: "n", bridge: "br1", cidr: "10.0.0.0/24", hostAddress: "10.0.0.1" }],
    });
    const cur: LinkSnapshot = {
      ...empty(),
      sysctl: { "net.ipv4.ip_forward": "1" },
      links: [
        {
          ifname: "br1",
          mtu: 1500,
          flags: ["UP"],
          linkinfo: { info_kind: "bridge", info_data: { forward_delay: 0, stp_state: 0 } },
        },
      ],
      addrs: [{ ifname: "br1", addr_info: [{ family: "inet", local: "192.0.2.5", prefixlen: 24 }] }],
    };
    expect(argv(planLinks(d, cur))).toEqual([
      "ip addr del 192.0.2.5/24 dev br1",
      "ip addr add 10.0.0.1/24 dev br1",
      "ip addr add 192.0.2.5/24 dev br1",
    ]);
  });
});

describe.skipIf(!requireNetns())("Links in a namespace", () => {
  const lab = new Lab();
  afterAll(() => lab.cleanup());

  test("bridge, uplink with its address and route, VXLAN flooding, floating /32; idempotent", async () => {
    const host = lab.addNamespace("nldlh");
    const peer = lab.addNamespace("nldlp");
    const [up] = lab.link(host, peer, { addrA: "192.0.2.1/24", addrB: "192.0.2.2/24" });
    nsRun(host, ["ip", "route", "add", "198.51.100.0/24", "via", "192.0.2.2"]);
    const [pub] = lab.link(host, peer);
    const fixture = {
      config: { publicInterface: pub, networkDeviceMtu: 1450, sendArpForHa: true, sendArpForHaCount: 1 },
      networks: [
        { id: "n1", bridge: "nlbr1", cidr: "10.0.0.0/24", hostAddress: "10.0.0.1", uplink: up },
        {
          id: "n2",
          bridge: "nlbr2",
          cidr: "10.2.0.0/24",
          hostAddress: "10.2.0.1",
          vxlan: { vni: 42, peers: ["192.0.2.2", "192.0.2.3"], local: "192.0.2.1", underlay: null },
        },
      ],
      floatingIps: [{ address: "203.0.113.10", fixedAddress: "10.0.0.10", interface: pub }],
    };
    const d = desiredFromFixture(fixture);
    const links = new Links({ exec: spawnExec(["ip", "netns", "exec", host]), log: createLogger({ write: () => {} }) });
    const first = await links.apply(d);
    expect(first.ran.length).toBeGreaterThan(10);
    expect(argv(first.ran)).toContain(`arping -U -P -q -c 1 -w 1 -i ${pub} -S 203.0.113.10 203.0.113.10`);
    const addrs = JSON.parse(nsRun(host, ["ip", "-j", "addr", "show", "nlbr1"]).stdout)[0].addr_info.filter(
      (a: { family: string }) => a.family === "inet",
    );
    expect(addrs.map((a: { local: string }) => a.local)).toEqual(["10.0.0.1", "192.0.2.1"]);
    const link = JSON.parse(nsRun(host, ["ip", "-j", "-d", "link", "show", up]).stdout)[0];
    expect(link.master).toBe("nlbr1");
    expect(link.mtu).toBe(1450);
    expect(nsRun(host, ["ip", "route", "show", "198.51.100.0/24"]).stdout).toContain("dev nlbr1");
    expect(nsRun(host, ["bridge", "fdb", "show", "dev", "vxlan42"]).stdout).toContain("dst 192.0.2.3");
    expect(nsRun(host, ["ip", "-j", "-d", "link", "show", "vxlan42"]).stdout).toContain('"master":"nlbr2"');
    expect(nsRun(host, ["sysctl", "-n", "net.ipv4.ip_forward"]).stdout.trim()).toBe("1");
    expect(nsRun(host, ["ip", "addr", "show", pub]).stdout).toContain("203.0.113.10/32");
    // Still reachable through the bridge after the move.
    expect(nsRun(host, ["ping", "-c1", "-W2", "192.0.2.2"]).code).toBe(0);

    expect((await links.apply(d)).ran).toEqual([]);

    const next = {
      ...d,
      floatingIps: [],
      networks: d.networks.map((n) => (n.vxlan ? { ...n, vxlan: { ...n.vxlan, peers: ["192.0.2.2"] } } : n)),
    };
    const third = await links.apply(next);
    expect(argv(third.ran)).toContain("bridge fdb del 00:00:00:00:00:00 dev vxlan42 dst 192.0.2.3");
    expect(argv(third.ran)).toContain(`ip addr del 203.0.113.10/32 dev ${pub}`);
    expect(nsRun(host, ["ip", "addr", "show", pub]).stdout).not.toContain("203.0.113.10");
  });

  test("VLAN device creation is skipped with a stated reason on a kernel without VLAN support", async () => {
    const host = lab.addNamespace("nldlv");
    nsRun(host, ["ip", "link", "add", "nldummy0", "type", "bridge"]);
    const d = desiredFromFixture({
      config: { vlanInterface: "nldummy0", firewallDriver: "noop" },
      networks: [{ id: "n", bridge: "nlbrv", cidr: "10.0.0.0/24", hostAddress: "10.0.0.1", vlan: 7 }],
    });
    const links = new Links({ exec: spawnExec(["ip", "netns", "exec", host]), log: createLogger({ write: () => {} }) });
    const probe = nsRun(host, ["ip", "link", "add", "link", "nldummy0", "name", "vprobe", "type", "vlan", "id", "9"], {
      check: false,
    });
    if (probe.code === 0) {
      nsRun(host, ["ip", "link", "del", "vprobe"]);
      await links.apply(d);
      expect(nsRun(host, ["ip", "-d", "link", "show", "vlan7"]).stdout).toContain("vlan");
      return;
    }
    const r = await links.apply(d);
    expect(new Set(r.skipped.map((s) => s.reason))).toEqual(new Set(["this kernel has no vlan devices"]));
    expect(r.skipped[0].step.argv.join(" ")).toBe("ip link add link nldummy0 name vlan7 type vlan id 7");
    expect(nsRun(host, ["ip", "addr", "show", "nlbrv"]).stdout).toContain("10.0.0.1/24");
  });

  test("a standby bridge exists before its first instance, with its pinned MAC that a guest's tap never changes", async () => {
    const host = lab.addNamespace("nldlr");
    const exec = spawnExec(["ip", "netns", "exec", host]);
    const mac = "02:aa:bb:cc:dd:01";
    const d = desiredFromFixture({ networks: [], standby: [{ id: "n", bridge: "nlbrr", bridgeMac: mac }] });
    await new Links({ exec, log: createLogger({ write: () => {} }) }).apply(d);
    const show = () => JSON.parse(nsRun(host, ["ip", "-j", "addr", "show", "nlbrr"]).stdout)[0];
    expect(show().address).toBe(mac);
    expect(show().addr_info.filter((a: { family: string }) => a.family === "inet")).toEqual([]);
    // A port with a lower MAC joins: an unpinned bridge would take its MAC.
    lab.addVm(host, { bridge: "nlbrr", mac: "00:00:00:00:00:01" });
    await new Links({ exec, log: createLogger({ write: () => {} }) }).apply(d);
    expect(show().address).toBe(mac);
  });
});
