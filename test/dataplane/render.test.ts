import { describe, expect, test, afterAll } from "bun:test";
import { desiredFromFixture } from "../../src/dataplane/desired.ts";
import { eui64, linkLocal } from "../../src/net/eui64.ts";
import { addChain, addSet, newTable, renderTables } from "../../src/dataplane/nft-model.ts";
import { natTable } from "../../src/dataplane/nft-nat.ts";
import { bridgeTable } from "../../src/dataplane/nft-bridge.ts";
import { nftGroupRule } from "../../src/dataplane/nft-filter.ts";
import { render, renderDelta, renderUnused, TableBuilder } from "../../src/dataplane/nft-render.ts";
import {
  emptyExisting,
  parseSave,
  renderIptables,
  renderIptablesTeardown,
} from "../../src/dataplane/iptables-render.ts";
import { nftJsonCounts, nftJsonDrift, parseIptablesDrops } from "../../src/dataplane/drift.ts";
import { Lab, nsRun, requireNetns } from "../harness/netns.ts";
import { DB, small, smallFixture, WEB } from "./fixture.ts";

/** Inline expected text: strip the common indentation. */
function dedent(s: string): string {
  const lines = s.replace(/^\n/, "").split("\n");
  const ind = Math.min(...lines.filter((l) => l.trim()).map((l) => l.match(/^ */)![0].length));
  return `${lines
    .map((l) => l.slice(ind))
    .join("\n")
    .replace(/\s+$/, "")}\n`;
}

describe("desired", () => {
  test("eui64() and linkLocal() derive nova's rfc2462 addresses from the MAC", () => {
    expect(eui64("fa:16:3e:00:00:0a", "fd00:1::/64")).toBe("fd00:1::f816:3eff:fe00:a");
    expect(linkLocal("52:54:00:12:34:56")).toBe("fe80::5054:ff:fe12:3456");
  });
});

describe("nft render", () => {
  test("NAT table: metadata DNAT, exemptions, floating maps, SNAT out public_interface", () => {
    expect(renderTables([natTable(small())])).toBe(
      dedent(`
      add table ip netlet-nat
      delete table ip netlet-nat
      add table ip netlet-nat
      add set ip netlet-nat fixed { type ipv4_addr; flags interval; auto-merge; }
      add set ip netlet-nat dmz { type ipv4_addr; flags interval; auto-merge; }
      add set ip netlet-nat force-snat { type ipv4_addr; flags interval; auto-merge; }
      add map ip netlet-nat fip-dnat { type ipv4_addr : ipv4_addr; }
      add map ip netlet-nat fip-snat { type ipv4_addr : ipv4_addr; }
      add map ip netlet-nat fip-snat-oif { type ifname . ipv4_addr : ipv4_addr; }
      add element ip netlet-nat fixed { 10.0.0.0/24 }
      add element ip netlet-nat dmz { 192.168.50.0/24 }
      add element ip netlet-nat fip-dnat { 203.0.113.10 : 10.0.0.10 }
      add element ip netlet-nat fip-snat { 10.0.0.10 : 203.0.113.10 }
      add element ip netlet-nat fip-snat-oif { "eth0" . 10.0.0.10 : 203.0.113.10 }
      add chain ip netlet-nat prerouting { type nat hook prerouting priority dstnat; policy accept; }
      add rule ip netlet-nat prerouting iifname "br100" ip daddr 169.254.169.254 tcp dport 80 dnat to 10.0.0.1:8775
      add rule ip netlet-nat prerouting dnat to ip daddr map @fip-dnat
      add chain ip netlet-nat output { type nat hook output priority -100; policy accept; }
      add rule ip netlet-nat output dnat to ip daddr map @fip-dnat
      add chain ip netlet-nat postrouting { type nat hook postrouting priority srcnat; policy accept; }
      add rule ip netlet-nat postrouting ip saddr @fixed ip daddr @dmz accept
      add rule ip netlet-nat postrouting ip saddr 10.0.0.0/24 ip daddr 10.0.0.0/24 ct status != dnat accept
      add rule ip netlet-nat postrouting ct status dnat snat to ip saddr map @fip-snat
      add rule ip netlet-nat postrouting snat to oifname . ip saddr map @fip-snat-oif
      add rule ip netlet-nat postrouting ip saddr @fixed ip daddr @force-snat snat to 203.0.113.1
      add rule ip netlet-nat postrouting oifname "eth0" ip saddr @fixed snat to 203.0.113.1
    `),
    );
  });

  test("masquerade when routing_source_ip is unset; REDIRECT for a loopback metadata host", () => {
    const d = desiredFromFixture(smallFixture({ config: { publicInterface: "eth0", metadataHost: "127.0.0.1" } }));
    const text = renderTables([natTable(d)]);
    expect(text).toContain(
      'add rule ip netlet-nat prerouting iifname "br100" ip daddr 169.254.169.254 tcp dport 80 redirect to :8775\n',
    );
    expect(text).toContain('add rule ip netlet-nat postrouting oifname "eth0" ip saddr @fixed masquerade\n');
    expect(text).toContain("add rule ip netlet-nat postrouting ip saddr @fixed ip daddr 127.0.0.1 accept\n");
  });

  test("group rules: ports, ranges, icmp type/code, IPv6, source groups, egress", () => {
    const r = (o: object) =>
      nftGroupRule({
        direction: "ingress",
        ethertype: "IPv4",
        protocol: "tcp",
        fromPort: 22,
        toPort: 22,
        cidr: "0.0.0.0/0",
        sourceGroupId: null,
        ...o,
      });
    expect(r({})).toBe("meta nfproto ipv4 tcp dport 22 accept");
    expect(r({ protocol: "udp", fromPort: 1000, toPort: 2000, cidr: "10.1.0.0/16" })).toBe(
      "meta nfproto ipv4 ip saddr 10.1.0.0/16 udp dport 1000-2000 accept",
    );
    expect(r({ protocol: "icmp", fromPort: 8, toPort: 0 })).toBe("meta nfproto ipv4 icmp type 8 icmp code 0 accept");
    expect(r({ protocol: "icmp", fromPort: 8, toPort: -1, ethertype: "IPv6", cidr: "::/0" })).toBe(
      "meta nfproto ipv6 icmpv6 type 8 accept",
    );
    expect(r({ cidr: null, sourceGroupId: WEB, fromPort: 1, toPort: 65535 })).toBe(
      "meta nfproto ipv4 ip saddr @m4-78be388286 meta l4proto tcp accept",
    );
    expect(r({ direction: "egress", cidr: "198.51.100.0/24", protocol: "any" })).toBe(
      "meta nfproto ipv4 ip daddr 198.51.100.0/24 accept",
    );
    expect(r({ cidr: "fd00::/8" })).toBeNull(); // IPv6 CIDR on an IPv4 rule
    expect(r({ fromPort: 70000, toPort: 70000 })).toBeNull();
  });

  test("no anonymous sets in per-instance or per-group rules", () => {
    const text = render(small());
    const perVm = text.split("\n").filter((l) => / (p|g)-[0-9a-f]{10}-/.test(l) && l.startsWith("add rule"));
    expect(perVm.length).toBeGreaterThan(5);
    for (const l of perVm) expect(l).not.toMatch(/\{/);
  });

  test("a builder kept between builds renders each state exactly as a fresh one", () => {
    const f = smallFixture();
    const moved = f.instances!.map((i) => (i.uuid === "vm-a" ? { ...i, vifs: [{ ...i.vifs[0], port: "vnet7" }] } : i));
    const regrouped = f.instances!.map((i) => (i.uuid === "vm-b" ? { ...i, groups: [WEB, DB] } : i));
    const states = [
      small(),
      desiredFromFixture({ ...f, instances: moved }), // a binding changed
      desiredFromFixture({ ...f, instances: regrouped }), // a profile changed
      desiredFromFixture({ ...f, networks: [{ ...f.networks[0], hostAddress: "10.0.0.2" }] }), // the context changed
      desiredFromFixture({ ...f, config: { ...f.config, allowSameNetTraffic: false } }),
      desiredFromFixture({ ...f, networks: [{ ...f.networks[0], hostAddress: null, remoteServer: "10.0.0.5" }] }),
      desiredFromFixture({ ...f, instances: f.instances!.slice(1) }),
      small(),
      ...(["iptables", "noop", "nftables"] as const).map((firewallDriver) =>
        desiredFromFixture({ ...f, config: { ...f.config, firewallDriver } }),
      ),
    ];
    const kept = new TableBuilder();
    for (const d of states) expect(renderTables(kept.build(d)) + renderUnused(d)).toBe(render(d));
  });

  test("noop driver renders NAT only and removes the filter tables", () => {
    const text = render(desiredFromFixture(smallFixture({ config: { firewallDriver: "noop" } })));
    expect(text).toContain("add table ip netlet-nat\ndelete table ip netlet-nat\nadd table ip netlet-nat\n");
    expect(text).toEndWith(
      "add table inet netlet\ndelete table inet netlet\nadd table bridge netlet\ndelete table bridge netlet\n",
    );
  });

  test("renderDelta: a floating IP is three map element updates", () => {
    const next = small({ floatingIps: [{ address: "203.0.113.11", fixedAddress: "10.0.0.11", interface: "eth0" }] });
    expect(renderDelta(small(), next)).toBe(
      dedent(`
      delete element ip netlet-nat fip-dnat { 203.0.113.10 }
      delete element ip netlet-nat fip-snat { 10.0.0.10 }
      delete element ip netlet-nat fip-snat-oif { "eth0" . 10.0.0.10 }
      add element ip netlet-nat fip-dnat { 203.0.113.11 : 10.0.0.11 }
      add element ip netlet-nat fip-snat { 10.0.0.11 : 203.0.113.11 }
      add element ip netlet-nat fip-snat-oif { "eth0" . 10.0.0.11 : 203.0.113.11 }
    `),
    );
  });

  test("renderDelta: a new source-group member is one element add", () => {
    const next = small({
      members: {
        [WEB]: { v4: ["10.0.0.10", "10.9.9.9"], v6: ["fd00:1::f816:3eff:fe00:a"] },
        [DB]: { v4: ["10.0.0.11"], v6: [] },
      },
    });
    expect(renderDelta(small(), next)).toBe("add element inet netlet m4-78be388286 { 10.9.9.9 }\n");
    expect(renderDelta(small(), small())).toBe("");
  });

  test("instances with the same groups and network share one chain; adding one is map elements only", () => {
    const f = smallFixture();
    const extra = {
      uuid: "vm-c",
      groups: [WEB],
      vifs: [{ mac: "fa:16:3e:00:00:0c", network: "net1", ipv4: "10.0.0.12", port: "vnet2" }],
    };
    const next = desiredFromFixture({ ...f, instances: [...f.instances!, extra] });
    const delta = renderDelta(small(), next);
    expect(delta).not.toContain("add chain");
    expect(delta).not.toContain("add rule");
    expect(delta).toContain("add element inet netlet in4 { 10.0.0.12 : goto p-0861560679-in }\n");
    expect(delta).toContain('add element bridge netlet bind-ip4 { "vnet2" . fa:16:3e:00:00:0c . 10.0.0.12 }\n');
  });

  test("renderDelta: removing an instance drops its map elements before its chains", () => {
    const f = smallFixture();
    const text = renderDelta(
      small(),
      desiredFromFixture({ ...f, instances: f.instances!.filter((i) => i.uuid === "vm-a") }),
    );
    const lines = text.trim().split("\n");
    const el = lines.indexOf("delete element inet netlet in4 { 10.0.0.11 }");
    const ch = lines.indexOf("delete chain inet netlet p-529784ee83-in");
    expect(el).toBeGreaterThanOrEqual(0);
    expect(ch).toBeGreaterThan(el);
    expect(lines).toContain('delete element bridge netlet vm-ports { "vnet1" }');
  });
});

describe("iptables render", () => {
  test("wrapped chains, jumps only when missing, stale chains deleted", () => {
    const ex = parseSave(
      "*nat\n:PREROUTING ACCEPT [0:0]\n:netlet-PREROUTING - [0:0]\n:netlet-old - [0:0]\n-A PREROUTING -j netlet-PREROUTING\n-A netlet-old -j ACCEPT\nCOMMIT\n",
    );
    expect([...ex.jumps]).toEqual(["nat PREROUTING netlet-PREROUTING"]);
    const p = renderIptables(small(), ex, emptyExisting());
    const nat = p.v4.slice(0, p.v4.indexOf("COMMIT") + 7);
    expect(nat).toBe(
      dedent(`
      *nat
      :netlet-PREROUTING - [0:0]
      :netlet-OUTPUT - [0:0]
      :netlet-POSTROUTING - [0:0]
      :netlet-snat - [0:0]
      :netlet-float-snat - [0:0]
      :netlet-old - [0:0]
      -I OUTPUT 1 -j netlet-OUTPUT
      -I POSTROUTING 1 -j netlet-POSTROUTING
      -A netlet-PREROUTING -i br100 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.0.1:8775
      -A netlet-PREROUTING -d 203.0.113.10/32 -j DNAT --to-destination 10.0.0.10
      -A netlet-OUTPUT -d 203.0.113.10/32 -j DNAT --to-destination 10.0.0.10
      -A netlet-POSTROUTING -s 10.0.0.0/24 -d 192.168.50.0/24 -j ACCEPT
      -A netlet-POSTROUTING -s 10.0.0.0/24 -d 10.0.0.0/24 -m conntrack ! --ctstate DNAT -j ACCEPT
      -A netlet-POSTROUTING -s 10.0.0.10/32 -m conntrack --ctstate DNAT -j SNAT --to-source 203.0.113.10
      -A netlet-POSTROUTING -j netlet-snat
      -A netlet-snat -j netlet-float-snat
      -A netlet-snat -s 10.0.0.0/24 -o eth0 -j SNAT --to-source 203.0.113.1
      -A netlet-float-snat -s 10.0.0.10/32 -o eth0 -j SNAT --to-source 203.0.113.10
      -X netlet-old
      COMMIT
    `),
    );
    expect(p.v4).toContain("-A netlet-g-cee4df2ddb-i -s 10.0.0.10/32 -p tcp -m tcp --dport 5432 -j ACCEPT\n");
    expect(p.v4).toContain("-A netlet-p-529784ee83-o -d 198.51.100.0/24 -p udp -m udp --dport 1000:2000 -j RETURN\n");
    expect(p.v6).toContain("-A netlet-FORWARD -d fd00:1::f816:3eff:fe00:a/128 -j netlet-p-0861560679-i\n");
  });

  test("teardown deletes jumps and chains", () => {
    const ex = parseSave("*nat\n:netlet-snat - [0:0]\n-A POSTROUTING -j netlet-snat\nCOMMIT\n");
    expect(renderIptablesTeardown(ex, ["nat", "filter"])).toBe(
      "*nat\n:netlet-snat - [0:0]\n-D POSTROUTING -j netlet-snat\n-X netlet-snat\nCOMMIT\n",
    );
  });
});

describe("drift parsing", () => {
  test("nftJsonCounts counts rules per chain (not headers) and elements per set; nftJsonDrift names what differs", () => {
    const listing = JSON.stringify({
      nftables: [
        { metainfo: { version: "1.0.6" } },
        { table: { family: "bridge", name: "netlet" } },
        { set: { family: "bridge", table: "netlet", name: "vm-ports", type: "ifname", elem: ["vnet0"] } },
        {
          chain: {
            family: "bridge",
            table: "netlet",
            name: "a",
            type: "filter",
            hook: "prerouting",
            prio: -300,
            policy: "accept",
          },
        },
        { chain: { family: "bridge", table: "netlet", name: "b" } },
        { rule: { family: "bridge", table: "netlet", chain: "a", expr: [] } },
        { rule: { family: "bridge", table: "netlet", chain: "a", expr: [] } },
      ],
    });
    const got = nftJsonCounts(listing)!;
    expect([[...got.chains], [...got.sets]]).toEqual([
      [
        ["a", 2],
        ["b", 0],
      ],
      [["vm-ports", 1]],
    ]);
    const t = newTable("bridge", "netlet");
    addSet(t, "vm-ports", "type ifname;", ['"vnet0"', '"vnet1"']);
    addChain(t, "a", ["accept", "drop"]);
    addChain(t, "b", ["accept"]);
    expect(nftJsonDrift(t, listing)).toEqual([
      "chain bridge netlet b has 0 rules, expected 1",
      "set bridge netlet vm-ports has 1 elements, expected 2",
    ]);
    expect(nftJsonDrift(t, null)).toEqual(["table bridge netlet is missing"]);
  });
  test("parseIptablesDrops reads the DROP rule counters", () => {
    expect([
      ...parseIptablesDrops("[7:420] -A netlet-drop-ingress -j DROP\n[1:2] -A netlet-FORWARD -j ACCEPT\n"),
    ]).toEqual([["drop-ingress", 7]]);
  });
});

describe.skipIf(!requireNetns())("kernel accepts the rendered text", () => {
  const lab = new Lab();
  afterAll(() => lab.cleanup());
  test("nft -c -f accepts the full render and a delta; iptables-restore --test accepts the payload", () => {
    const ns = lab.addNamespace("nldpc");
    nsRun(ns, ["nft", "-c", "-f", "-"], { input: render(small()) });
    nsRun(ns, ["nft", "-f", "-"], { input: render(small()) });
    nsRun(ns, ["nft", "-c", "-f", "-"], { input: renderDelta(small(), small({ floatingIps: [] })) });
    const p = renderIptables(small(), emptyExisting(), emptyExisting());
    nsRun(ns, ["iptables-restore", "--noflush", "--test"], { input: p.v4 });
    nsRun(ns, ["ip6tables-restore", "--noflush", "--test"], { input: p.v6 });
  });
});

describe("bridge table (L2 guard)", () => {
  const fx = (bridgeMeta: boolean) =>
    desiredFromFixture({
      config: { bridgeMeta, flatInterface: "eth1" },
      networks: [
        { id: "n", bridge: "br100", cidr: "10.0.0.0/24" },
        { id: "x", bridge: "br200", vxlan: { vni: 42, peers: [], local: null, underlay: null } },
      ],
      standby: [{ id: "s", bridge: "br300", uplink: "bond0" }],
      instances: [
        { uuid: "a", vifs: [{ mac: "fa:16:3e:00:00:0a", network: "n", ipv4: "10.0.0.10", port: "vnet0" }] },
        { uuid: "b", vifs: [{ mac: "fa:16:3e:00:00:0b", network: "n", ipv4: "10.0.0.11" }] },
      ],
      foreignPorts: ["veth-docker", "eth1"],
    });

  test("only declared ports are bound; uplinks, VXLAN devices and standby bridges' uplinks pass; a VIF without a port has no element", () => {
    const t = bridgeTable(fx(false));
    expect(t.sets.get("vm-ports")!.elements).toEqual(['"vnet0"']);
    expect(t.sets.get("bind-chaddr")!.elements).toEqual(['"vnet0" . 0xfa163e00000a']);
    expect(t.sets.get("uplinks")!.elements.sort()).toEqual(['"bond0"', '"eth1"', '"vxlan42"']);
    // A port of another bridge is listed, unless netlet enslaved it itself.
    expect(t.sets.get("foreign-ports")!.elements).toEqual(['"veth-docker"']);
    expect(t.chains.get("prerouting")!.rules.slice(0, 3)).toEqual([
      "iifname @foreign-ports accept",
      "iifname @uplinks accept",
      "iifname != @vm-ports counter name undeclared-port drop",
    ]);
    expect(t.chains.get("forward")!.rules.at(-1)).toBe("oifname != @vm-ports counter name undeclared-port drop");
  });

  test("with meta ibrname the rules match the bridges themselves", () => {
    const t = bridgeTable(fx(true));
    expect(t.sets.get("bridges")!.elements.sort()).toEqual(['"br100"', '"br200"', '"br300"']);
    expect(t.sets.has("foreign-ports")).toBe(false);
    expect(t.chains.get("prerouting")!.rules[0]).toBe("meta ibrname != @bridges accept");
    expect(t.chains.get("output")!.rules[0]).toBe("meta obrname != @bridges accept");
  });
});
