/**
 * Dataplane benchmark, run inside a namespace it creates and deletes:
 *   netlet full sync (Dataplane.sync) at 1,000 and 10,000 instances with source groups,
 *   vs raw `nft -f` of the same text, vs iptables-restore of the iptables driver's payload,
 *   vs iptables rule by rule (1,000 only); single-instance and single-member change at 10,000;
 *   the longest event-loop stall during a 10,000-instance sync.
 *
 *   ./node_modules/.bin/bun bench/dataplane/run.ts [--sizes 1000,10000] [--no-rule-by-rule] [--ns-prefix nl]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "../../src/metrics.ts";
import { Dataplane } from "../../src/dataplane/apply.ts";
import { spawnExec } from "../../src/sys/exec.ts";
import { emptyExisting, renderIptables } from "../../src/dataplane/iptables-render.ts";
import { render } from "../../src/dataplane/nft-render.ts";
import { groupId, instance, scaled } from "./scale.ts";
import { createLogger } from "../../src/log.ts";

const args = process.argv.slice(2);
const sizes = (
  args[args.indexOf("--sizes") + 1] && args.includes("--sizes") ? args[args.indexOf("--sizes") + 1] : "1000,10000"
)
  .split(",")
  .map(Number);
const ruleByRule = !args.includes("--no-rule-by-rule");
// Namespace names start with this prefix, so parallel runs by several people never collide.
const nsName = `${args.includes("--ns-prefix") ? args[args.indexOf("--ns-prefix") + 1] : "nl"}bench${process.pid % 100000}`;

function sh(argv: string[], input?: string): void {
  const p = Bun.spawnSync(argv, { stdin: input === undefined ? "ignore" : Buffer.from(input) });
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${p.stderr.toString()}`);
}

function freshNs(): string {
  const ns = nsName;
  Bun.spawnSync(["ip", "netns", "del", ns]);
  sh(["ip", "netns", "add", ns]);
  return ns;
}

async function timed<T>(fn: () => Promise<T>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const ms = (x: number) => `${x.toFixed(0)} ms`;
const exec = (ns: string) => spawnExec(["ip", "netns", "exec", ns]);

async function runCmd(ns: string, argv: string[], input?: string): Promise<void> {
  const r = await exec(ns)(argv, input);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr.slice(0, 500)}`);
}

/** Convert an iptables-restore payload into one iptables command per line. */
function perRuleCommands(payload: string, bin: string): string[][] {
  const cmds: string[][] = [];
  let table = "filter";
  for (const line of payload.split("\n")) {
    if (line.startsWith("*")) table = line.slice(1);
    else if (line.startsWith(":")) cmds.push([bin, "-t", table, "-N", line.slice(1).split(" ")[0]]);
    else if (line.startsWith("-A ") || line.startsWith("-I "))
      cmds.push([bin, "-t", table, ...line.match(/(?:[^\s"]+|"[^"]*")+/g)!.map((x) => x.replace(/^"|"$/g, ""))]);
  }
  return cmds;
}

async function bench(n: number, tmp: string): Promise<void> {
  console.log(`\n== ${n.toLocaleString()} instances ==`);
  const d = scaled(n);
  const text = render(d);
  const file = join(tmp, `ruleset-${n}.nft`);
  writeFileSync(file, text);
  console.log(`ruleset: ${text.split("\n").length - 1} lines, ${(text.length / 1e6).toFixed(1)} MB`);

  // Raw nft -f of the same text: initial load and replace.
  let ns = freshNs();
  const rawInit = await timed(() => runCmd(ns, ["nft", "-f", file]));
  const rawReplace = await timed(() => runCmd(ns, ["nft", "-f", file]));
  sh(["ip", "netns", "del", ns]);
  console.log(`raw nft -f            initial ${ms(rawInit)}   replace ${ms(rawReplace)}`);

  // netlet full sync (render in slices + nft -f - through Bun.spawn), with a stall probe.
  ns = freshNs();
  const dp = new Dataplane({ exec: exec(ns), registry: new Registry(), log: createLogger({ write: () => {} }) });
  // Fresh objects, built before the stall probe starts (building them is not the sync's work).
  const fresh = scaled(n);
  const probe = stallProbe();
  const cpu0 = threadCpuMs();
  let slice = 0;
  const init = await timed(async () => {
    slice = (await dp.sync(fresh)).longestSliceMs;
  });
  const initCpu = threadCpuMs() - cpu0;
  const initStall = probe.take();
  const replace = await timed(() => dp.sync(fresh));
  const replaceStall = probe.take();
  probe.stop();
  console.log(
    `netlet full sync      initial ${ms(init)} (${(init / rawInit).toFixed(2)}x raw)   replace ${ms(replace)} (${(replace / rawReplace).toFixed(2)}x raw)`,
  );
  console.log(
    `event-loop thread CPU during the initial sync: ${ms(initCpu)} (building, rendering, writing to nft); longest slice of work ${ms(slice)}`,
  );
  console.log(
    `longest event-loop stall: initial sync ${ms(initStall.wall)} (event-loop thread on CPU ${ms(initStall.cpu)} of it), replace ${ms(replaceStall.wall)} (${ms(replaceStall.cpu)})`,
  );

  if (n >= 10000) {
    // Single-instance change: one more instance.
    const extra = instance(n + 1);
    const plusOne = scaled(0);
    plusOne.instances = [...fresh.instances, ...scaled(0, [extra]).instances];
    plusOne.members = fresh.members;
    plusOne.floatingIps = fresh.floatingIps;
    const add = await timed(() => dp.update(plusOne));
    // Single member change: one more address in a source group's member set.
    const members = {
      ...plusOne.members,
      [groupId(1)]: { v4: [...plusOne.members[groupId(1)].v4, "10.200.0.1"], v6: plusOne.members[groupId(1)].v6 },
    };
    const member = await timed(() => dp.update({ ...plusOne, members }));
    const remove = await timed(() => dp.update({ ...plusOne, members, instances: plusOne.instances.slice(0, -1) }));
    console.log(
      `single-instance add ${ms(add)}, single member add ${ms(member)}, single-instance remove ${ms(remove)}`,
    );
  }
  sh(["ip", "netns", "del", ns]);

  // iptables-restore of the iptables driver's payload (filter + nat, v4 and v6).
  const ipt = renderIptables(
    { ...d, config: { ...d.config, firewallDriver: "iptables" } },
    emptyExisting(),
    emptyExisting(),
  );
  const rules =
    ipt.v4.split("\n").filter((l) => l.startsWith("-A") || l.startsWith("-I")).length +
    ipt.v6.split("\n").filter((l) => l.startsWith("-A")).length;
  for (const bin of ["iptables-nft", "iptables-legacy"]) {
    ns = freshNs();
    const t = await timed(async () => {
      await runCmd(ns, [`${bin}-restore`, "--noflush"], ipt.v4);
      await runCmd(ns, [`${bin.replace("iptables", "ip6tables")}-restore`, "--noflush"], ipt.v6);
    });
    sh(["ip", "netns", "del", ns]);
    console.log(`${bin}-restore   ${ms(t)} (${rules} rules, v4+v6)`);
  }

  if (ruleByRule && n <= 1000) {
    ns = freshNs();
    const cmds = perRuleCommands(ipt.v4, "iptables-nft");
    const t = await timed(async () => {
      for (const c of cmds) await runCmd(ns, c);
    });
    sh(["ip", "netns", "del", ns]);
    console.log(`iptables-nft rule by rule  ${ms(t)} (${cmds.length} commands, v4 only)`);
  }
}

/** CPU time of the calling thread (the event loop's when called from a timer), ms. */
function threadCpuMs(): number {
  // First field of schedstat: nanoseconds this thread ran, at scheduler precision.
  return Number(readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]) / 1e6;
}

/**
 * Longest gap between 1 ms timer ticks, and the most CPU time the event-loop thread used within
 * one gap: on a loaded machine a long gap with little CPU is the thread waiting for a core, not
 * JavaScript holding the event loop.
 */
function stallProbe() {
  let last = performance.now();
  let lastCpu = threadCpuMs();
  let wall = 0;
  let cpu = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const nowCpu = threadCpuMs();
    wall = Math.max(wall, now - last);
    cpu = Math.max(cpu, nowCpu - lastCpu);
    last = now;
    lastCpu = nowCpu;
  }, 1);
  return {
    take() {
      const r = { wall, cpu };
      wall = cpu = 0;
      last = performance.now();
      lastCpu = threadCpuMs();
      return r;
    },
    stop: () => clearInterval(timer),
  };
}

/** Longest gap between 1 ms timer ticks while idle: the machine's own noise floor. */
async function idleGap(durationMs: number): Promise<number> {
  let last = performance.now();
  let gap = 0;
  const probe = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 1);
  await Bun.sleep(durationMs);
  clearInterval(probe);
  return gap;
}

const tmp = mkdtempSync(join(tmpdir(), "netlet-bench-"));
try {
  console.log(
    `nft ${Bun.spawnSync(["nft", "--version"]).stdout.toString().trim()}; kernel ${Bun.spawnSync(["uname", "-r"]).stdout.toString().trim()}; load ${Bun.spawnSync(["cat", "/proc/loadavg"]).stdout.toString().trim()}`,
  );
  console.log(`idle event-loop baseline: longest gap ${ms(await idleGap(2000))} over 2 s with nothing running`);
  for (const n of sizes) await bench(n, tmp);
} finally {
  rmSync(tmp, { recursive: true, force: true });
  Bun.spawnSync(["ip", "netns", "del", nsName]);
}
