/** The doctor's checks over hand-written host facts: each check's ok and failing case and its fix. */
import { describe, expect, test } from "bun:test";
import { checkWritableDir, renderText, report, runChecks } from "../../src/doctor/checks.ts";
import { configFilesOf, parseDnsmasq, parseRadvd, servedBy } from "../../src/doctor/check-conflicts.ts";
import { effectiveRpFilter } from "../../src/doctor/check-sysctl.ts";
import { parseNftVersion } from "../../src/doctor/check-tools.ts";
import {
  rpFilterKey,
  sysctlName,
  sysctlPath,
  wantedSysctls,
  type CheckResult,
  type DoctorTarget,
  type HostFacts,
  type ProcessFact,
} from "../../src/doctor/types.ts";

function target(over: Partial<DoctorTarget> = {}): DoctorTarget {
  return {
    firewallDriver: "nftables",
    useIpv6: false,
    sendArpForHa: false,
    publicInterface: "eth0",
    bridges: ["br100"],
    bridgesFrom: "flat_network_bridge",
    statePath: "/var/lib/netlet",
    adminSocket: "/run/netlet/netlet.sock",
    ...over,
  };
}

/** A host with everything right. */
function healthy(over: Partial<HostFacts> = {}): HostFacts {
  const ok = (stdout = "") => ({ code: 0, stdout, stderr: "" });
  return {
    nftVersion: ok("nftables v1.0.6 (Lester Gooch #5)\n"),
    nftList: ok("table inet netlet\n"),
    ipVersion: ok("ip utility, iproute2-6.1.0, libbpf 1.1.2\n"),
    ipJson: ok("[]"),
    tools: {
      bridge: true,
      sysctl: true,
      conntrack: true,
      arping: true,
      "iptables-restore": true,
      "ip6tables-restore": true,
    },
    kinds: { bridge: { state: "loaded" }, veth: { state: "module" }, vxlan: { state: "created" } },
    sysctl: {
      "net.ipv4.ip_forward": "1",
      "net.ipv6.conf.all.forwarding": "1",
      "net.bridge.bridge-nf-call-iptables": "1",
      "net.bridge.bridge-nf-call-ip6tables": "1",
      "net.ipv4.conf.all.rp_filter": "0",
      "net.ipv4.conf.default.rp_filter": "0",
      "net.ipv4.conf.eth0.rp_filter": "0",
      "net.ipv4.conf.br100.rp_filter": "0",
    },
    interfaces: ["lo", "eth0", "br100"],
    processes: [],
    statePath: { path: "/var/lib/netlet", exists: true, writable: true },
    socketDir: { path: "/run/netlet", exists: false, writable: false, parent: "/run", parentWritable: true },
    ...over,
  };
}

const byId = (rs: CheckResult[], id: string) => {
  const r = rs.find((x) => x.id === id);
  if (!r) throw new Error(`no check ${id} in ${rs.map((x) => x.id).join(", ")}`);
  return r;
};
const check = (facts: HostFacts, id: string, t = target()) => byId(runChecks(facts, t), id);
const withSysctl = (kv: Record<string, string | null>) => healthy({ sysctl: { ...healthy().sysctl, ...kv } });

describe("doctor checks", () => {
  test("a healthy host has no warn or fail", () => {
    const r = report(runChecks(healthy(), target()));
    expect(r.checks.filter((c) => c.status !== "ok")).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.checks.every((c) => c.fix === undefined)).toBe(true);
  });

  test("nft: missing, too old, unusable, and iptables mode", () => {
    expect(check(healthy({ nftVersion: null, nftList: null }), "nftables")).toMatchObject({
      status: "fail",
      fix: "apt-get install nftables",
    });
    expect(
      check(healthy({ nftVersion: { code: 0, stdout: "nftables v0.9.8 (E.D.S.)", stderr: "" } }), "nft-version"),
    ).toMatchObject({ status: "fail" });
    expect(
      check(healthy({ nftVersion: { code: 0, stdout: "nftables v0.9.8 (E.D.S.)", stderr: "" } }), "nft-version").fix,
    ).toContain("1.0 or later");
    const denied = check(
      healthy({ nftList: { code: 1, stdout: "", stderr: "Error: Operation not permitted\n" } }),
      "nf_tables",
    );
    expect(denied).toMatchObject({
      status: "fail",
      summary: "`nft list tables` failed: Error: Operation not permitted",
    });
    expect(denied.fix).toContain("CAP_NET_ADMIN");
    const nokernel = check(
      healthy({ nftList: { code: 1, stdout: "", stderr: "Error: Protocol not supported" } }),
      "nf_tables",
    );
    expect(nokernel.fix).toContain("modprobe nf_tables");
    expect(check(healthy(), "nf_tables").status).toBe("ok");
    expect(parseNftVersion("nftables v1.1.1 (Commodore Bullmoose #2)")).toEqual([1, 1, 1]);
    const ipt = target({ firewallDriver: "iptables" });
    expect(check(healthy(), "iptables", ipt).status).toBe("ok");
    // The iptables driver still keeps anti-spoofing in the nft bridge table.
    expect(check(healthy({ nftVersion: null }), "nftables", ipt).summary).toContain("anti-spoofing (the bridge table)");
    expect(
      check(healthy({ tools: { ...healthy().tools, "ip6tables-restore": false } }), "iptables", ipt),
    ).toMatchObject({ status: "fail", fix: "apt-get install iptables (or set firewall_driver = nftables)" });
  });

  test("iproute2 and helper programs", () => {
    expect(check(healthy({ ipVersion: null }), "iproute2")).toMatchObject({
      status: "fail",
      fix: "apt-get install iproute2",
    });
    expect(
      check(healthy({ ipJson: { code: 255, stdout: "", stderr: 'Option "-j" is unknown' } }), "iproute2").status,
    ).toBe("fail");
    expect(check(healthy(), "iproute2").summary).toContain("iproute2 6.1.0");
    const noSysctl = healthy({ tools: { ...healthy().tools, sysctl: false, conntrack: false } });
    expect(check(noSysctl, "tool-sysctl")).toMatchObject({ status: "fail", fix: "apt-get install procps" });
    expect(check(noSysctl, "tool-conntrack")).toMatchObject({ status: "warn", fix: "apt-get install conntrack" });
    // arping matters only with send_arp_for_ha.
    const noArping = healthy({ tools: { ...healthy().tools, arping: false } });
    expect(check(noArping, "tools").status).toBe("ok");
    expect(check(noArping, "tool-arping", target({ sendArpForHa: true })).status).toBe("warn");
  });

  test("kernel link kinds", () => {
    expect(check(healthy(), "kernel-veth").summary).toContain("module");
    const missing = healthy({
      kinds: {
        bridge: { state: "missing", detail: "Unknown device type." },
        veth: { state: "missing" },
        vxlan: { state: "unknown" },
      },
    });
    expect(check(missing, "kernel-bridge")).toMatchObject({
      status: "fail",
      fix: "modprobe bridge, or use a kernel built with CONFIG_BRIDGE",
    });
    expect(check(missing, "kernel-bridge").summary).toContain("Unknown device type.");
    expect(check(missing, "kernel-veth").status).toBe("warn");
    expect(check(missing, "kernel-vxlan")).toMatchObject({ status: "warn", fix: "run netlet doctor as root" });
  });

  test("ip_forward: 0 fails with the sysctl fix", () => {
    const r = check(withSysctl({ "net.ipv4.ip_forward": "0" }), "ip_forward");
    expect(r.status).toBe("fail");
    expect(r.summary).toContain("net.ipv4.ip_forward = 0");
    expect(r.fix).toBe(
      "sysctl -w net.ipv4.ip_forward=1 && printf 'net.ipv4.ip_forward = 1\\n' > /etc/sysctl.d/90-netlet-ip_forward.conf",
    );
    expect(check(healthy(), "ip_forward")).toEqual({
      id: "ip_forward",
      status: "ok",
      summary: "net.ipv4.ip_forward = 1",
    });
  });

  test("IPv6 forwarding only matters with use_ipv6", () => {
    const off = withSysctl({ "net.ipv6.conf.all.forwarding": "0" });
    expect(runChecks(off, target()).some((c) => c.id === "ipv6_forwarding")).toBe(false);
    expect(check(off, "ipv6_forwarding", target({ useIpv6: true }))).toMatchObject({ status: "warn" });
    expect(check(off, "ipv6_forwarding", target({ useIpv6: true })).fix).toContain(
      "sysctl -w net.ipv6.conf.all.forwarding=1",
    );
    expect(check(healthy(), "ipv6_forwarding", target({ useIpv6: true })).status).toBe("ok");
  });

  test("rp_filter: strict on a served bridge or public_interface warns; all=1 counts for every interface", () => {
    const strictBr = check(withSysctl({ "net.ipv4.conf.br100.rp_filter": "1" }), "rp_filter");
    expect(strictBr.status).toBe("warn");
    expect(strictBr.summary).toContain("on br100");
    expect(strictBr.fix).toStartWith("sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.br100.rp_filter=2 && ");
    const strictAll = check(withSysctl({ "net.ipv4.conf.all.rp_filter": "1" }), "rp_filter");
    expect(strictAll.summary).toContain("on eth0, br100");
    expect(check(withSysctl({ "net.ipv4.conf.all.rp_filter": "2" }), "rp_filter").status).toBe("ok");
    expect(
      effectiveRpFilter(
        withSysctl({ "net.ipv4.conf.all.rp_filter": "2", "net.ipv4.conf.eth0.rp_filter": "1" }),
        "eth0",
      ),
    ).toBe(2);
    // A bridge that does not exist yet is not judged.
    const absent = healthy({ interfaces: ["lo"] });
    expect(check(absent, "rp_filter").status).toBe("ok");
    expect(check(absent, "public_interface")).toMatchObject({ status: "warn" });
    expect(check(absent, "public_interface").fix).toContain("set public_interface");
  });

  test("bridge filtering: br_netfilter and bridge-nf-call as the inet-family security groups need", () => {
    const notLoaded = withSysctl({
      "net.bridge.bridge-nf-call-iptables": null,
      "net.bridge.bridge-nf-call-ip6tables": null,
    });
    expect(check(notLoaded, "br_netfilter")).toMatchObject({
      status: "fail",
      fix: "modprobe br_netfilter && echo br_netfilter > /etc/modules-load.d/netlet.conf",
    });
    expect(check(notLoaded, "br_netfilter", target({ firewallDriver: "noop" })).status).toBe("ok");
    const off = check(withSysctl({ "net.bridge.bridge-nf-call-ip6tables": "0" }), "bridge-nf-call");
    expect(off.status).toBe("warn");
    expect(off.summary).toStartWith("net.bridge.bridge-nf-call-ip6tables = 0");
    expect(off.fix).toStartWith("sysctl -w net.bridge.bridge-nf-call-ip6tables=1");
    expect(check(healthy(), "bridge-nf-call").status).toBe("ok");
  });

  test("dnsmasq on a served bridge fails; on another bridge or DNS-only it does not", () => {
    const nova: ProcessFact = {
      pid: 4242,
      argv: [
        "/usr/sbin/dnsmasq",
        "--strict-order",
        "--bind-interfaces",
        "--conf-file=",
        "--pid-file=/var/lib/nova/networks/nova-br100.pid",
        "--listen-address=10.0.0.1",
        "--except-interface=lo",
        "--dhcp-range=set:demo-net,10.0.0.2,static,255.255.255.0,120s",
        "--interface=br100",
      ],
      files: {},
    };
    const r = check(healthy({ processes: [nova] }), "dhcp-conflict");
    expect(r.status).toBe("fail");
    expect(r.summary).toContain("dnsmasq (pid 4242) answers DHCP on br100");
    expect(r.fix).toStartWith("kill 4242 and stop what starts it");
    const other: ProcessFact = { ...nova, argv: nova.argv.map((a) => a.replace("br100", "virbr0")) };
    expect(check(healthy({ processes: [other] }), "conflicts").status).toBe("ok");
    const dnsOnly: ProcessFact = { pid: 7, argv: ["dnsmasq", "-i", "br100", "--port=53"], files: {} };
    expect(check(healthy({ processes: [dnsOnly] }), "conflicts").status).toBe("ok");
    // Short options and a libvirt-style configuration file.
    const libvirt: ProcessFact = {
      pid: 99,
      argv: ["/usr/sbin/dnsmasq", "--conf-file=/var/lib/libvirt/dnsmasq/default.conf"],
      files: {
        "/var/lib/libvirt/dnsmasq/default.conf":
          "strict-order\ninterface=br100\n# interface=br9\ndhcp-range=192.168.122.2,192.168.122.254\n",
      },
    };
    expect(check(healthy({ processes: [libvirt] }), "dhcp-conflict").summary).toContain("pid 99");
    expect(configFilesOf(libvirt)).toEqual(["/var/lib/libvirt/dnsmasq/default.conf"]);
    expect(configFilesOf({ pid: 1, argv: ["dnsmasq"], files: {} })).toEqual(["/etc/dnsmasq.conf"]);
    expect(
      parseDnsmasq({ pid: 1, argv: ["dnsmasq", "-ibr1", "-i", "br2,br3", "-F", "10.0.0.2,10.0.0.9"], files: {} }),
    ).toEqual({ pid: 1, interfaces: ["br1", "br2", "br3"], except: [], dhcp: true });
  });

  test("dnsmasq on every interface: wildcard, except-interface, and no known bridges", () => {
    const all: ProcessFact = { pid: 5, argv: ["dnsmasq", "--dhcp-range=10.1.0.2,10.1.0.9"], files: {} };
    expect(check(healthy({ processes: [all] }), "dhcp-conflict").status).toBe("fail");
    expect(check(healthy({ processes: [all] }), "dhcp-conflict", target({ bridges: [] })).status).toBe("warn");
    const except: ProcessFact = {
      pid: 6,
      argv: ["dnsmasq", "--dhcp-range=10.1.0.2,10.1.0.9", "--except-interface=br*"],
      files: {},
    };
    expect(check(healthy({ processes: [except] }), "conflicts").status).toBe("ok");
    expect(servedBy({ pid: 1, interfaces: ["br*"], except: [], dhcp: true }, ["br100", "eth0"])).toEqual(["br100"]);
  });

  test("radvd naming a served bridge fails; an unreadable configuration warns", () => {
    const conf =
      "interface br100\n{\n  AdvSendAdvert on;\n  prefix fd00:1::/64 { AdvOnLink on; };\n};\ninterface eth9 { AdvSendAdvert on; };\n";
    const radvd: ProcessFact = {
      pid: 31,
      argv: ["/usr/sbin/radvd", "-C", "/var/lib/nova/networks/nova-ra-br100.conf", "-p", "/x.pid"],
      files: { "/var/lib/nova/networks/nova-ra-br100.conf": conf },
    };
    expect(parseRadvd(radvd).interfaces).toEqual(["br100", "eth9"]);
    const r = check(healthy({ processes: [radvd] }), "ra-conflict");
    expect(r).toMatchObject({ status: "fail" });
    expect(r.summary).toContain("radvd (pid 31) advertises on br100");
    expect(r.fix).toContain("/var/lib/nova/networks/nova-ra-br100.conf");
    const elsewhere: ProcessFact = { ...radvd, files: { "/etc/radvd.conf": "interface eth9 { AdvSendAdvert on; };" } };
    expect(check(healthy({ processes: [elsewhere] }), "conflicts").status).toBe("ok");
    const unreadable: ProcessFact = { pid: 32, argv: ["radvd"], files: { "/etc/radvd.conf": null } };
    expect(check(healthy({ processes: [unreadable] }), "ra-conflict").status).toBe("warn");
  });

  test("ISC dhcpd and Kea are reported for a look", () => {
    const p: ProcessFact = {
      pid: 77,
      argv: ["/usr/sbin/dhcpd", "-4", "-q", "-cf", "/etc/dhcp/dhcpd.conf", "eth1"],
      files: {},
    };
    const r = check(healthy({ processes: [p] }), "dhcp-conflict");
    expect(r.status).toBe("warn");
    expect(r.summary).toBe("dhcpd (pid 77) is a DHCP server; make sure it does not listen on br100");
  });

  test("a running nova-network fails", () => {
    const p: ProcessFact = {
      pid: 12,
      argv: ["/usr/bin/python3", "/usr/bin/nova-network", "--config-file=/etc/nova/nova.conf"],
      files: {},
    };
    expect(check(healthy({ processes: [p] }), "nova-network")).toMatchObject({
      status: "fail",
      fix: "systemctl disable --now nova-network (see docs/migrating-from-nova-network.md)",
    });
  });

  test("state_path and the admin socket directory", () => {
    expect(
      checkWritableDir("state_path", "state_path", { path: "/var/lib/netlet", exists: true, writable: true }).status,
    ).toBe("ok");
    expect(
      checkWritableDir("state_path", "state_path", {
        path: "/var/lib/netlet",
        exists: false,
        writable: false,
        parent: "/var/lib",
        parentWritable: true,
      }).summary,
    ).toContain("creates it under /var/lib");
    const ro = check(healthy({ statePath: { path: "/srv/ro/netlet", exists: true, writable: false } }), "state_path");
    expect(ro.status).toBe("fail");
    expect(ro.fix).toContain("mkdir -p /srv/ro/netlet");
    const sock = check(
      healthy({
        socketDir: { path: "/run/netlet", exists: false, writable: false, parent: "/run", parentWritable: false },
      }),
      "admin_socket",
    );
    expect(sock.status).toBe("fail");
    expect(sock.summary).toContain("/run (/run/netlet does not exist)");
  });

  test("report counts and text rendering", () => {
    const r = report(
      runChecks(withSysctl({ "net.ipv4.ip_forward": "0", "net.ipv4.conf.eth0.rp_filter": "1" }), target()),
    );
    expect(r.ok).toBe(false);
    expect(r.counts.fail).toBe(1);
    expect(r.counts.warn).toBe(1);
    const text = renderText(r);
    expect(text).toMatch(/^fail {2}ip_forward +net\.ipv4\.ip_forward = 0/m);
    expect(text).toMatch(/^ +fix: sysctl -w net\.ipv4\.ip_forward=1 && /m);
    expect(text.trim().split("\n").at(-1)).toBe(`${r.counts.ok} ok, 1 warn, 1 fail`);
  });

  test("sysctl names with dotted interface names", () => {
    expect(sysctlName(["net", "ipv4", "conf", "eth0.100", "rp_filter"])).toBe("net.ipv4.conf.eth0/100.rp_filter");
    expect(sysctlPath("net.ipv4.conf.eth0/100.rp_filter")).toBe("/proc/sys/net/ipv4/conf/eth0.100/rp_filter");
    expect(wantedSysctls(target({ bridges: ["br100", "vlan.7"] }))).toContain(rpFilterKey("vlan.7"));
  });
});
