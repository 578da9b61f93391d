/**
 * Dataplane benchmark, run inside a namespace it creates and deletes:
 *   netlet full sync (Dataplane.sync) at 1,000 and 10,000 instances with source groups,
 *   vs raw `nft -f` of the same text, vs iptables-restore of the iptables driver's payload,
 *   vs iptables rule by rule (1,000 only); single-instance and single-member change at 10,000;
 *   the longest event-loop stall during a 10,000-instance sync.
 *
 *   ./node_modules/.bin/bun bench/dataplane/run.ts [--sizes 1000,10000] [--no-rule-by-rule]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "../../src/metrics.ts";
import { Dataplane } from "../../src/dataplane/apply.ts";
import { spawnExec } from "../../src/dataplane/exec.ts";
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

function sh(argv: string[], input?: string): void {
  const p = Bun.spawnSync(argv, { stdin: input === undefined ? "ignore" : Buffer.from(input) });
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${p.stderr.toString()}`);
}

function freshNs(): string {
  const ns = `nlbench${process.pid % 100000}`;
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
  let last = performance.now();
  let stall = 0;
  const probe = setInterval(() => {
    const now = performance.now();
    stall = Math.max(stall, now - last);
    last = now;
  }, 1);
  const fresh = scaled(n); // fresh objects: nothing cached from `render(d)` above
  const init = await timed(() => dp.sync(fresh));
  const initStall = stall;
  stall = 0;
  last = performance.now();
  const replace = await timed(() => dp.sync(fresh));
  clearInterval(probe);
  console.log(
    `netlet full sync      initial ${ms(init)} (${(init / rawInit).toFixed(2)}x raw)   replace ${ms(replace)} (${(replace / rawReplace).toFixed(2)}x raw)`,
  );
  console.log(`longest event-loop stall: initial sync ${ms(initStall)}, replace ${ms(stall)}`);

  if (n >= 10000) {
    // Single-instance change: one more instance (unchanged instance objects are reused).
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
  Bun.spawnSync(["ip", "netns", "del", `nlbench${process.pid % 100000}`]);
}
