import { afterAll, describe, expect, test } from "bun:test";
import { Registry } from "../../src/metrics.ts";
import { Dataplane } from "../../src/dataplane/apply.ts";
import { desiredFromFixture, type DesiredState } from "../../src/dataplane/desired.ts";
import { spawnExec } from "../../src/dataplane/exec.ts";
import { fastDelta, fastStateOf } from "../../src/dataplane/fast-delta.ts";
import { buildTables } from "../../src/dataplane/nft-render.ts";
import { Lab, nsRun, requireNetns } from "../harness/netns.ts";
import { DB, small, WEB } from "./fixture.ts";
import { createLogger } from "../../src/log.ts";

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

describe("fastDelta", () => {
  test("handles instance, member and floating changes; declines group rule changes", () => {
    const a = small();
    const st = fastStateOf(buildTables(a), a);
    const b: DesiredState = { ...a, instances: [...a.instances, vm("vm-c", [WEB], 30)] };
    const r = fastDelta(a, b, st)!;
    expect(r.text).toBe(
      `${[
        "add element inet netlet in4 { 10.0.0.30 : goto p-0861560679-in }",
        "add element inet netlet in6 { fd00:1::f816:3eff:fe00:11e : goto p-0861560679-in }",
        'add element bridge netlet vm-ports { "vnet30" }',
        'add element bridge netlet bind-mac { "vnet30" . fa:16:3e:00:01:1e }',
        'add element bridge netlet bind-ip4 { "vnet30" . fa:16:3e:00:01:1e . 10.0.0.30 }',
        'add element bridge netlet bind-ip6 { "vnet30" . fa:16:3e:00:01:1e . fe80::f816:3eff:fe00:11e, "vnet30" . fa:16:3e:00:01:1e . fd00:1::f816:3eff:fe00:11e }',
        'add element bridge netlet bind-nd { "vnet30" . 0xfe80000000000000f8163efffe00011e, "vnet30" . 0xfd00000100000000f8163efffe00011e }',
        'add element bridge netlet bind-chaddr { "vnet30" . 0xfa163e00011e }',
      ].join("\n")}\n`,
    );
    expect(st.profiles.get("p-0861560679-in")).toBe(1); // the input summary is untouched
    expect(r.state.profiles.get("p-0861560679-in")).toBe(2);
    const groups = a.groups.map((g) => (g.id === DB ? { ...g, rules: [] } : g));
    expect(fastDelta(a, { ...a, groups }, st)).toBeNull();
  });
});

describe.skipIf(!requireNetns())("fast path against the kernel", () => {
  const lab = new Lab();
  afterAll(() => lab.cleanup());

  test("a series of fast deltas leaves exactly what a full sync of the final state does", async () => {
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
