import { describe, expect, test, afterAll } from "bun:test";
import { Registry } from "../../src/metrics.ts";
import { Dataplane, MARK_TEXT } from "../../src/dataplane/apply.ts";
import { desiredFromFixture } from "../../src/dataplane/desired.ts";
import { spawnExec, stdinText, type Exec, type ExecResult } from "../../src/sys/exec.ts";
import { render, renderDelta } from "../../src/dataplane/nft-render.ts";
import { Lab, nsRun, requireNetns } from "../harness/netns.ts";
import { small, smallFixture } from "./fixture.ts";
import { createLogger } from "../../src/log.ts";

/** A scripted exec: records every call and answers from `reply`. */
function fakeExec(reply: (argv: string[], stdin?: string) => Partial<ExecResult> = () => ({})) {
  const calls: { argv: string[]; stdin?: string }[] = [];
  const exec: Exec = async (argv, input) => {
    const stdin = await stdinText(input);
    calls.push({ argv, stdin });
    return { code: 0, stdout: "", stderr: "", ...reply(argv, stdin) };
  };
  return { exec, calls };
}

describe("Dataplane with a scripted exec", () => {
  test("first apply is a full sync through one nft -f -, the next a delta", async () => {
    const { exec, calls } = fakeExec((argv) => (argv[0].endsWith("-save") ? { code: 1 } : {}));
    const dp = new Dataplane({ exec, registry: new Registry(), log: createLogger({ write: () => {} }) });
    const d1 = small();
    const r1 = await dp.update(d1);
    expect(r1.kind).toBe("full");
    // One nft transaction; iptables-save only to look for another driver's leftovers.
    expect(calls.filter((c) => c.argv[0] === "nft")).toEqual([
      { argv: ["nft", "-f", "-"], stdin: render(small()) + MARK_TEXT },
    ]);
    expect(calls.filter((c) => c.argv[0] !== "nft").map((c) => c.argv[0])).toEqual(["iptables-save", "ip6tables-save"]);
    calls.length = 0;
    // Only the floating IP maps change.
    const d2 = { ...d1, floatingIps: [] };
    const r2 = await dp.update(d2);
    expect(r2.kind).toBe("delta");
    expect(calls.map((c) => c.argv.join(" "))).toEqual(["nft -f -"]);
    expect(calls[0].stdin).toBe(renderDelta(d1, d2) + MARK_TEXT);
    expect(calls[0].stdin).toStartWith("delete element ip netlet-nat fip-dnat { 203.0.113.10 }\n");
    calls.length = 0;
    expect((await dp.update({ ...d2 })).kind).toBe("none");
    expect(calls).toEqual([]);
    // Fresh objects for the same content: tables are compared by content, nothing to apply.
    expect((await dp.update(small({ floatingIps: [] }))).kind).toBe("none");
    expect(calls).toEqual([]);
  });

  test("a failed delta falls back to a full sync and a failed full sync throws with nft's error", async () => {
    let fail = 0;
    const { exec, calls } = fakeExec((argv, stdin) =>
      argv[0] === "nft" && fail-- > 0
        ? { code: 1, stderr: "Error: No such file or directory" }
        : argv[0].endsWith("-save")
          ? { code: 1 }
          : {},
    );
    const lines: string[] = [];
    const dp = new Dataplane({ exec, registry: new Registry(), log: createLogger({ write: (l) => lines.push(l) }) });
    await dp.sync(small());
    fail = 1;
    calls.length = 0;
    expect((await dp.update(small({ floatingIps: [] }))).kind).toBe("full");
    expect(lines[0]).toContain("delta apply failed");
    fail = 5;
    await expect(dp.sync(small())).rejects.toThrow("No such file or directory");
  });
});

describe("one bad table does not hold back the others", () => {
  test("a full sync that nft refuses is retried table by table; the failing table is named", async () => {
    // nft refuses any transaction that touches the bridge table (as a bad line in it would).
    const { exec, calls } = fakeExec((argv, stdin) =>
      argv[0] === "nft" && stdin?.includes("table bridge netlet")
        ? { code: 1, stderr: "Error: syntax error, unexpected string" }
        : argv[0].endsWith("-save")
          ? { code: 1 }
          : {},
    );
    const lines: string[] = [];
    const dp = new Dataplane({ exec, registry: new Registry(), log: createLogger({ write: (l) => lines.push(l) }) });
    await expect(dp.sync(small())).rejects.toThrow(
      "nft table(s) bridge netlet could not be applied (the other tables were): ",
    );
    const applied = calls
      .filter((c) => c.argv[0] === "nft")
      .slice(1)
      .map((c) => /table (\w+ [\w-]+)/.exec(c.stdin ?? "")![1]);
    expect(applied).toEqual(["inet netlet", "bridge netlet", "ip netlet-nat"]);
    expect(lines.at(-1)).toContain('level=warn msg="applied 2 of 3 tables one by one" failing="bridge netlet"');
    // Not recorded as applied: the next update tries a full sync again.
    calls.length = 0;
    await dp.update(small()).catch(() => undefined);
    expect(calls.find((c) => c.argv[0] === "nft")!.stdin).toBe(render(small()) + MARK_TEXT);
  });
});

describe.skipIf(!requireNetns())("Dataplane against the kernel", () => {
  const lab = new Lab();
  afterAll(() => lab.cleanup());

  test("foreign tables survive every sync; a flushed or deleted netlet table is repaired", async () => {
    const ns = lab.addNamespace("nldpa");
    nsRun(ns, ["nft", "-f", "-"], {
      input:
        "add table inet foreign\nadd chain inet foreign c { type filter hook forward priority 5; }\nadd rule inet foreign c tcp dport 9 counter accept\n",
    });
    const lines: string[] = [];
    const reg = new Registry();
    const dp = new Dataplane({
      exec: spawnExec(["ip", "netns", "exec", ns]),
      registry: reg,
      log: createLogger({ write: (l) => lines.push(l) }),
    });
    await dp.sync(small());
    await dp.update(small({ floatingIps: [] }));
    await dp.sync(small());
    expect(nsRun(ns, ["nft", "list", "table", "inet", "foreign"]).stdout).toContain("tcp dport 9 counter");
    expect(await dp.drift()).toEqual([]);
    expect(await dp.reconcile()).toBe(false);

    nsRun(ns, ["nft", "flush", "table", "inet", "netlet"]);
    expect((await dp.drift()).length).toBeGreaterThan(0);
    expect(await dp.reconcile()).toBe(true);
    expect(lines.at(-1)).toContain("drift detected");
    expect(nsRun(ns, ["nft", "list", "chain", "inet", "netlet", "ingress"]).stdout).toContain("ip daddr vmap @in4");
    nsRun(ns, ["nft", "delete", "table", "ip", "netlet-nat"]);
    expect(await dp.reconcile()).toBe(true);
    expect(await dp.drift()).toEqual([]);
    expect(reg.counter("netlet_dataplane_drift_repairs_total", "").get()).toBe(2);
    expect(nsRun(ns, ["nft", "list", "table", "inet", "foreign"]).stdout).toContain("tcp dport 9 counter");
  });

  test("iptables driver: foreign chains survive, flushed chains are repaired, switching back tears down", async () => {
    const ns = lab.addNamespace("nldpi");
    nsRun(ns, ["iptables", "-N", "foreign"]);
    nsRun(ns, ["iptables", "-A", "FORWARD", "-j", "foreign"]);
    nsRun(ns, ["iptables", "-A", "foreign", "-p", "tcp", "--dport", "9", "-j", "ACCEPT"]);
    const lines: string[] = [];
    const dp = new Dataplane({
      exec: spawnExec(["ip", "netns", "exec", ns]),
      registry: new Registry(),
      log: createLogger({ write: (l) => lines.push(l) }),
    });
    const ipt = desiredFromFixture(smallFixture({ config: { ...smallFixture().config, firewallDriver: "iptables" } }));
    await dp.sync(ipt);
    await dp.sync(ipt);
    await dp.update(
      desiredFromFixture(
        smallFixture({ config: { ...smallFixture().config, firewallDriver: "iptables" }, floatingIps: [] }),
      ),
    );
    const save = nsRun(ns, ["iptables-save"]).stdout;
    expect(save.match(/-A FORWARD -j netlet-FORWARD/g)?.length).toBe(1);
    expect(save).toContain("-A foreign -p tcp -m tcp --dport 9 -j ACCEPT");
    expect(save).not.toContain("203.0.113.10");
    expect(await dp.drift()).toEqual([]);
    nsRun(ns, ["iptables", "-t", "nat", "-F", "netlet-snat"]);
    expect(await dp.reconcile()).toBe(true);
    expect(await dp.drift()).toEqual([]);
    await dp.sync(small());
    const after = nsRun(ns, ["iptables-save"]).stdout;
    expect(after).not.toContain("netlet-");
    expect(after).toContain("-A foreign -p tcp -m tcp --dport 9 -j ACCEPT");
  });
});

describe("kernel events of netlet's own transactions", () => {
  test("removals up to a transaction's marker are its own; later ones are someone else's; an aborted one leaves no marker", async () => {
    let now = 0;
    let fail = false;
    const { exec } = fakeExec((argv) =>
      argv[0] === "nft" && fail ? { code: 1, stderr: "Error" } : argv[0].endsWith("-save") ? { code: 1 } : {},
    );
    const dp = new Dataplane({
      exec,
      registry: new Registry(),
      log: createLogger({ write: () => {} }),
      clock: () => now,
    });
    expect(dp.ownEvent('delete element bridge netlet vm-ports { "tap1" }')).toBe(false);
    await dp.update(small());
    expect(dp.ownEvent("delete table inet netlet")).toBe(true);
    expect(dp.ownEvent("delete table inet netlet-mark")).toBe(true);
    expect(dp.ownEvent('delete element bridge netlet vm-ports { "tap1" }')).toBe(false);
    fail = true;
    await dp.sync(small()).catch(() => undefined);
    expect(dp.ownEvent("delete chain bridge netlet prerouting")).toBe(false);
    // A marker the watcher missed is given up after 5 s.
    fail = false;
    await dp.sync(small());
    now += 6000;
    expect(dp.ownEvent("delete chain bridge netlet prerouting")).toBe(false);
  });
});
