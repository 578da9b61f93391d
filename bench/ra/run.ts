/**
 * netlet RA vs radvd, side by side in one run (root required):
 *   /work/main/node_modules/.bin/bun bench/ra/run.ts [trials=10]
 *
 * One host namespace holds one bridge per router under test:
 *   br-nl  RaService with defaults (RFC 4861 0–500 ms random delay before solicited answers)
 *   br-n0  RaService with maxSolicitedDelayMs 0 (answers solicitations at once, as radvd does)
 *   br-rv  radvd configured as nova wrote it (MinRtrAdvInterval 3, MaxRtrAdvInterval 10, one
 *          prefix with AdvOnLink/AdvAutonomous)
 *   br-np  RaService polling every 1000 ms instead of 100 ms (only for the idle-cost figure)
 * Each trial attaches a fresh VM namespace to each bridge in rotating order with the guest's
 * link down (as a booting guest's NIC), sets it up and polls every 10 ms until it has a global SLAAC address (first seen, then DAD finished) and a
 * default route. Then rdisc6 RS→RA times, the RA fields as rdisc6 decodes them, and idle costs.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { RawIcmp6Socket } from "../../src/sys/raw6.ts";
import { Lab, nsRun, run, uniqueName, type Vm } from "../../test/harness/netns.ts";

const trials = Number(process.argv[2] ?? 10);
const FIXTURE = join(import.meta.dir, "../../test/ra/fixture-ra.ts");
const tmp = mkdtempSync(join(tmpdir(), "netlet-ra-bench-"));
const lab = new Lab();

interface Router {
  name: string;
  bridge: string;
  prefix: string;
  proc?: Subprocess;
}
const routers: Router[] = [
  { name: "netlet", bridge: "br-nl", prefix: "fd00:1::/64" },
  { name: "netlet-d0", bridge: "br-n0", prefix: "fd00:3::/64" },
  { name: "radvd", bridge: "br-rv", prefix: "fd00:2::/64" },
];

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10; // utime + stime, clock ticks of 10 ms
}

function rssKb(pid: number): string {
  return readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)?.[1] ?? "?";
}

function globalState(vm: Vm): "none" | "tentative" | "ready" {
  const out = nsRun(vm.ns, ["ip", "-6", "-o", "addr", "show", "dev", vm.ifname, "scope", "global"]).stdout;
  if (!out.trim()) return "none";
  return out.includes("tentative") ? "tentative" : "ready";
}

function hasDefault(vm: Vm): boolean {
  return nsRun(vm.ns, ["ip", "-6", "route", "show", "default"]).stdout.includes("default");
}

/** Like Lab.addVm, but the guest's link stays down until the trial brings it up (a booting guest). */
function addVmDown(host: string, bridge: string, mac: string): Vm {
  const ns = lab.addNamespace("nlvm");
  const hostIf = uniqueName("nlv");
  const tmpIf = uniqueName("nlt");
  nsRun(host, ["ip", "link", "add", hostIf, "type", "veth", "peer", "name", tmpIf]);
  nsRun(host, ["ip", "link", "set", tmpIf, "netns", ns]);
  nsRun(ns, ["ip", "link", "set", tmpIf, "name", "eth0"]);
  nsRun(ns, ["ip", "link", "set", "eth0", "address", mac]);
  nsRun(host, ["ip", "link", "set", hostIf, "master", bridge]);
  nsRun(host, ["ip", "link", "set", hostIf, "up"]);
  return { ns, ifname: "eth0", hostIf, mac };
}

/** Attaches a VM with its link down, then times link-up → address seen / usable / default route. */
async function trial(host: string, bridge: string, mac: string) {
  const vm = addVmDown(host, bridge, mac);
  nsRun(vm.ns, ["sysctl", "-qw", `net.ipv6.conf.${vm.ifname}.accept_ra=1`]);
  await Bun.sleep(300);
  const t0 = performance.now();
  nsRun(vm.ns, ["ip", "link", "set", vm.ifname, "up"]);
  let seen = NaN,
    ready = NaN,
    route = NaN;
  while (performance.now() - t0 < 20_000 && (Number.isNaN(ready) || Number.isNaN(route))) {
    const s = globalState(vm);
    const t = performance.now() - t0;
    if (s !== "none" && Number.isNaN(seen)) seen = t;
    if (s === "ready" && Number.isNaN(ready)) ready = t;
    if (Number.isNaN(route) && hasDefault(vm)) route = t;
    await Bun.sleep(10);
  }
  run(["ip", "netns", "del", vm.ns], { check: false });
  lab.namespaces.splice(lab.namespaces.indexOf(vm.ns), 1);
  return { seen, ready, route };
}

function stats(xs: number[]): string {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return "no result";
  const pct = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return `n=${s.length}/${xs.length} min ${s[0].toFixed(0)} median ${pct(0.5).toFixed(0)} mean ${mean.toFixed(0)} p90 ${pct(0.9).toFixed(0)} max ${s.at(-1)!.toFixed(0)} ms`;
}

function rdiscFields(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split("\n")) {
    const i = line.indexOf(":");
    if (i < 0 || line.startsWith("Soliciting") || line.startsWith(" from")) continue;
    m.set(
      line.slice(0, i).trim(),
      line
        .slice(i + 1)
        .trim()
        .replace(/\s+/g, " "),
    );
  }
  return m;
}

function emptyRecvCost(): string {
  const s = RawIcmp6Socket.open("lo", { joinAllRouters: false });
  const n = 200_000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) s.receive();
  const us = ((performance.now() - t0) * 1000) / n;
  s.close();
  return `${us.toFixed(2)} µs per empty non-blocking recvmsg through bun:ffi (${n} calls)`;
}

function startNetlet(host: string, r: Router, options: Record<string, number>): Subprocess {
  const cfg = join(tmp, `${r.bridge}.json`);
  const bridges = [
    { bridge: r.bridge, prefix: r.prefix, mtu: 1450, rdnss: [r.prefix.replace("::/64", "::1")], dnssl: ["novalocal"] },
  ];
  writeFileSync(cfg, JSON.stringify({ bridges, options }));
  return lab.spawn(host, [process.execPath, FIXTURE, cfg, join(tmp, `${r.bridge}.metrics`)]);
}

function startRadvd(host: string, r: Router): Subprocess {
  const conf = join(tmp, "radvd.conf");
  const body = `interface ${r.bridge} {\n  AdvSendAdvert on;\n  MinRtrAdvInterval 3;\n  MaxRtrAdvInterval 10;\n  prefix ${r.prefix} {\n    AdvOnLink on;\n    AdvAutonomous on;\n  };\n};\n`;
  writeFileSync(conf, body);
  return lab.spawn(host, ["radvd", "-n", "-C", conf, "-p", join(tmp, "radvd.pid"), "-m", "stderr", "-d", "0"]);
}

async function linkUpTrials(host: string) {
  const res = new Map(routers.map((r) => [r.name, [] as { seen: number; ready: number; route: number }[]]));
  for (let i = 0; i < trials; i++) {
    const order = routers.map((_, k) => routers[(i + k) % routers.length]);
    for (const [k, r] of order.entries()) {
      const mac = `02:00:00:${i.toString(16).padStart(2, "0")}:${(k + 1).toString(16).padStart(2, "0")}:${routers.indexOf(r) + 1}0`;
      res.get(r.name)!.push(await trial(host, r.bridge, mac));
    }
  }
  console.log(`\n== link-up → global address, ${trials} trials each (VM: Linux kernel SLAAC, EUI-64) ==`);
  for (const r of routers) {
    const xs = res.get(r.name)!;
    console.log(`${r.name.padEnd(9)} address seen (tentative) : ${stats(xs.map((x) => x.seen))}`);
    console.log(`${r.name.padEnd(9)} address usable (DAD done): ${stats(xs.map((x) => x.ready))}`);
    console.log(`${r.name.padEnd(9)} default route            : ${stats(xs.map((x) => x.route))}`);
  }
}

async function solicitTrials(host: string) {
  console.log("\n== RS → RA: rdisc6 wall time (one RS, includes spawning rdisc6), 1.2 s apart ==");
  const vms = routers.map((r, k) => lab.addVm(host, { bridge: r.bridge, mac: `02:00:00:00:bb:0${k + 1}` }));
  await Bun.sleep(2500);
  const rtt = routers.map(() => [] as number[]);
  for (let i = 0; i < trials * 2; i++) {
    for (const [k, vm] of vms.entries()) {
      const t0 = performance.now();
      const r = nsRun(vm.ns, ["rdisc6", "-1", "-r", "1", "-w", "4000", vm.ifname], { check: false });
      rtt[k].push(r.code === 0 ? performance.now() - t0 : NaN);
    }
    await Bun.sleep(1200);
  }
  for (const [k, r] of routers.entries()) console.log(`${r.name.padEnd(9)} ${stats(rtt[k])}`);
  return vms;
}

function compareFields(vms: Vm[]) {
  console.log("\n== RA fields as rdisc6 decodes them ==");
  const fN = rdiscFields(nsRun(vms[0].ns, ["rdisc6", "-1", "-w", "1500", vms[0].ifname], { check: false }).stdout);
  const fR = rdiscFields(nsRun(vms[2].ns, ["rdisc6", "-1", "-w", "1500", vms[2].ifname], { check: false }).stdout);
  const keys = [...new Set([...fR.keys(), ...fN.keys()])];
  console.log(`${"field".padEnd(28)} ${"netlet".padEnd(34)} radvd`);
  for (const k of keys) console.log(`${k.padEnd(28)} ${(fN.get(k) ?? "—").padEnd(34)} ${fR.get(k) ?? "—"}`);
  const missing = [...fR.keys()].filter((k) => !fN.has(k));
  console.log(`fields radvd sends that netlet does not: ${missing.length ? missing.join(", ") : "none"}`);
}

async function idleCost(slow: Subprocess) {
  console.log("\n== idle cost over 20 s (1 bridge each, RAs every 3–10 s included) ==");
  const procs: [string, Subprocess][] = [
    ["netlet, 100 ms poll", routers[0].proc!],
    ["netlet, 1000 ms poll", slow],
    ["radvd", routers[2].proc!],
  ];
  const c0 = procs.map(([, p]) => cpuMs(p.pid));
  await Bun.sleep(20_000);
  for (const [k, [name, p]] of procs.entries()) {
    const ms = cpuMs(p.pid) - c0[k];
    console.log(
      `${name.padEnd(22)} ${ms} ms CPU (${((ms / 20_000) * 100).toFixed(2)} % of a core), RSS ${rssKb(p.pid)} kB`,
    );
  }
  console.log(`polling primitive: ${emptyRecvCost()}`);
}

async function main() {
  const host = lab.addNamespace("nlrbh");
  nsRun(host, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
  const slowRouter: Router = { name: "netlet-p1000", bridge: "br-np", prefix: "fd00:4::/64" };
  for (const r of [...routers, slowRouter]) {
    lab.addBridge(host, r.bridge, [r.prefix.replace("::/64", "::1/64")]);
    // A permanent port, so every router is up and advertising before any trial.
    lab.addVm(host, { bridge: r.bridge, mac: `02:00:00:00:99:0${[...routers, slowRouter].indexOf(r) + 1}` });
  }
  routers[0].proc = startNetlet(host, routers[0], {});
  routers[1].proc = startNetlet(host, routers[1], { maxSolicitedDelayMs: 0 });
  routers[2].proc = startRadvd(host, routers[2]);
  const slow = startNetlet(host, slowRouter, { pollIntervalMs: 1000 });
  await Bun.sleep(4000); // bridge link-locals pass DAD, every router sends its first RAs

  await linkUpTrials(host);
  const vms = await solicitTrials(host);
  compareFields(vms);
  await idleCost(slow);
}

try {
  await main();
} finally {
  await lab.cleanup();
  rmSync(tmp, { recursive: true, force: true });
}
