import { afterAll, describe, expect, test } from "bun:test";
import { Registry } from "../../src/metrics.ts";
import { Dataplane } from "../../src/dataplane/apply.ts";
import { desiredFromFixture, type DesiredState } from "../../src/dataplane/desired.ts";
import { spawnExec } from "../../src/sys/exec.ts";
import { renderDelta } from "../../src/dataplane/nft-render.ts";
import { FakeNft } from "../harness/fake-nft.ts";
import { createLogger } from "../../src/log.ts";
import { Lab, nsRun, requireNetns } from "../harness/netns.ts";
import { DB, small, WEB } from "./fixture.ts";

/** Ruleset as comparable data: rules numbered within their chain, set elements sorted. */
function canonical(ns: string): string[] {
  const doc = JSON.parse(nsRun(ns, ["nft", "-j", "list", "ruleset"]).stdout).nftables as Record<string, any>[];
  const out: string[] = [];
  const pos = new Map<string, number>();
  for (const o of doc) {
    if (o.rule) {
      const c = `${o.rule.family} ${o.rule.table} ${o.rule.chain}`;
      pos.set(c, (pos.get(c) ?? 0) + 1);
      out.push(`rule ${c} #${pos.get(c)} ${JSON.stringify(o.rule.expr)}`);
    } else if (o.set || o.map) {
      const s = o.set ?? o.map;
      out.push(
        `set ${s.family} ${s.table} ${s.name} ${JSON.stringify((s.elem ?? []).map((e: unknown) => JSON.stringify(e)).sort())}`,
      );
    } else if (o.chain) out.push(`chain ${o.chain.family} ${o.chain.table} ${o.chain.name}`);
  }
  return out.sort();
}

function vm(uuid: string, groups: string[], n: number) {
  const mac = `fa:16:3e:00:01:${n.toString(16).padStart(2, "0")}`;
  return desiredFromFixture({
    networks: small().networks,
    instances: [{ uuid, groups, vifs: [{ mac, network: "net1", ipv4: `10.0.0.${n}`, port: `vnet${n}` }] }],
  }).instances[0];
}

/** A Dataplane programming a fake nft; every log line is a failure (no fallback expected). */
function onFake() {
  const nft = new FakeNft();
  const dp = new Dataplane({
    exec: nft.exec(),
    registry: new Registry(),
    log: createLogger({
      write: (l) => {
        throw new Error(l);
      },
    }),
  });
  return { nft, dp };
}

/** What a full sync of `d` leaves in an empty fake nft. */
async function fullDump(d: DesiredState): Promise<string> {
  const { nft, dp } = onFake();
  await dp.sync(d);
  return nft.dump();
}

describe("deltas against the fake nft", () => {
  test("after every delta the ruleset is exactly what a full sync of that state leaves", async () => {
    const { nft, dp } = onFake();
    const s0 = small();
    await dp.sync(s0);
    expect(nft.dump()).toBe(await fullDump(s0));
    const s1 = { ...s0, instances: [...s0.instances, vm("vm-c", [WEB, DB], 30)] }; // new profile
    const s2 = { ...s1, members: { ...s1.members, [WEB]: { v4: ["10.0.0.10", "10.0.0.30"], v6: [] } } };
    const s3 = { ...s2, instances: s2.instances.filter((i) => i.uuid !== "vm-b") }; // drops a profile
    const s4 = { ...s3, floatingIps: [{ address: "203.0.113.11", fixedAddress: "10.0.0.30", interface: "eth0" }] };
    const moved = { ...s4.instances[0], vifs: [{ ...s4.instances[0].vifs[0], port: "vnet9" }] };
    const s5 = { ...s4, instances: [moved, ...s4.instances.slice(1)] }; // port changed
    const s6 = { ...s5, groups: s5.groups.map((g) => (g.id === DB ? { ...g, rules: [] } : g)) }; // group rules
    const s7 = { ...s6, config: { ...s6.config, allowSameNetTraffic: false } }; // every profile chain
    const s8 = { ...s7, networks: [{ ...s7.networks[0], hostAddress: "10.0.0.2" }] }; // metadata DNAT, DHCP
    for (const s of [s1, s2, s3, s4, s5, s6, s7, s8, s0]) {
      expect((await dp.update(s)).kind).toBe("delta");
      expect(nft.dump()).toBe(await fullDump(s));
    }
    // Fresh objects with the same content change nothing.
    expect((await dp.update(small())).kind).toBe("none");
  });

  test("one more instance of a known profile is element adds only", async () => {
    const { nft, dp } = onFake();
    await dp.sync(small());
    const before = nft.dump();
    const next = { ...small(), instances: [...small().instances, vm("vm-c", [WEB], 30)] };
    await dp.update(next);
    const added = nft
      .dump()
      .split("\n")
      .filter((l) => !before.includes(`${l}\n`));
    expect(added).toEqual([
      'add element bridge netlet bind-chaddr { "vnet30" . 0xfa163e00011e }',
      'add element bridge netlet bind-ip4 { "vnet30" . fa:16:3e:00:01:1e . 10.0.0.30 }',
      'add element bridge netlet bind-ip6 { "vnet30" . fa:16:3e:00:01:1e . fd00:1::f816:3eff:fe00:11e }',
      'add element bridge netlet bind-ip6 { "vnet30" . fa:16:3e:00:01:1e . fe80::f816:3eff:fe00:11e }',
      'add element bridge netlet bind-mac { "vnet30" . fa:16:3e:00:01:1e }',
      'add element bridge netlet bind-nd { "vnet30" . 0xfd00000100000000f8163efffe00011e }',
      'add element bridge netlet bind-nd { "vnet30" . 0xfe80000000000000f8163efffe00011e }',
      'add element bridge netlet vm-ports { "vnet30" }',
      "add element inet netlet in4 { 10.0.0.30 : goto p-0861560679-in }",
      "add element inet netlet in6 { fd00:1::f816:3eff:fe00:11e : goto p-0861560679-in }",
    ]);
    expect(renderDelta(small(), next)).not.toMatch(/^(add|delete|flush) (chain|rule|set|map|table)/m);
  });
});

describe("the fake nft refuses what the kernel refuses, atomically", () => {
  const base = [
    "add table inet t",
    "add counter inet t c",
    "add chain inet t target",
    "add map inet t m { type ipv4_addr : verdict; }",
    "add set inet t s { type ipv4_addr; }",
    "add chain inet t in { type filter hook input priority 0; policy accept; }",
    "add rule inet t in ip saddr @s counter name c drop",
    "add element inet t m { 10.0.0.1 : goto target }",
  ].join("\n");

  test.each([
    ["delete element inet t s { 10.9.9.9 }", "No such file or directory"],
    ["delete chain inet t target", "Device or resource busy"],
    ["delete chain inet t in", "Device or resource busy"],
    ["delete set inet t s", "Device or resource busy"],
    ["add element inet t m { 10.0.0.1 : drop }", "File exists"],
    ["add element inet t m { 10.0.0.2 : goto nowhere }", "No such file or directory"],
    ["add rule inet t in ip daddr @nosuch drop", "No such file or directory"],
    ["add rule inet t in jump nowhere", "No such file or directory"],
    ["delete table ip nosuch", "No such file or directory"],
    ["add element inet t s { 10.0.0.5 }\nbogus line", "syntax error"],
  ])("%s", (line, error) => {
    const nft = new FakeNft();
    nft.run(base);
    const before = nft.dump();
    expect(() => nft.run(line)).toThrow(error);
    expect(nft.dump()).toBe(before);
  });

  test("what the kernel accepts: re-adding a table, chain or element; a map update by delete then add", () => {
    const nft = new FakeNft();
    nft.run(base);
    nft.run(
      "add table inet t\nadd chain inet t target\nadd element inet t s { 10.0.0.5, 10.0.0.5 }\n" +
        "delete element inet t m { 10.0.0.1 }\nadd element inet t m { 10.0.0.1 : drop }",
    );
    expect(nft.elements("inet t", "m")).toEqual(["10.0.0.1 : drop"]);
    expect(nft.elements("inet t", "s")).toEqual(["10.0.0.5"]);
    nft.run("delete element inet t m { 10.0.0.1 }\nflush chain inet t target\ndelete chain inet t target");
    expect(nft.dump()).not.toContain("target");
  });
});

describe.skipIf(!requireNetns())("deltas against the kernel", () => {
  const lab = new Lab();
  afterAll(() => lab.cleanup());

  test("a series of deltas leaves exactly what a full sync of the final state does", async () => {
    const nsA = lab.addNamespace("nldfa");
    const nsB = lab.addNamespace("nldfb");
    const dp = new Dataplane({
      exec: spawnExec(["ip", "netns", "exec", nsA]),
      registry: new Registry(),
      log: createLogger({
        write: (l) => {
          throw new Error(l);
        },
      }),
    });
    const s0 = small();
    await dp.sync(s0);
    const s1 = { ...s0, instances: [...s0.instances, vm("vm-c", [WEB, DB], 30)] }; // new profile
    const s2 = { ...s1, members: { ...s1.members, [WEB]: { v4: ["10.0.0.10", "10.0.0.30"], v6: [] } } };
    const s3 = { ...s2, instances: s2.instances.filter((i) => i.uuid !== "vm-b") }; // drops a profile
    const s4 = { ...s3, floatingIps: [{ address: "203.0.113.11", fixedAddress: "10.0.0.30", interface: "eth0" }] };
    const moved = { ...s4.instances[0], vifs: [{ ...s4.instances[0].vifs[0], port: "vnet9" }] };
    const s5 = { ...s4, instances: [moved, ...s4.instances.slice(1)] }; // port changed
    for (const s of [s1, s2, s3, s4, s5]) expect((await dp.update(s)).kind).toBe("delta");
    const full = new Dataplane({
      exec: spawnExec(["ip", "netns", "exec", nsB]),
      registry: new Registry(),
      log: createLogger({ write: () => {} }),
    });
    await full.sync(s5);
    expect(canonical(nsA)).toEqual(canonical(nsB));
    expect(await dp.drift()).toEqual([]);
  });
});
