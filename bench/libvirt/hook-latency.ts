/**
 * libvirt hook latency: the real `netlet libvirt hook` process at `prepare` (register the
 * instance, allocate its address) and `started` (declare its tap; answers once the rules are
 * applied), with `instances` instances already on the host. Peer measured in the same run: the
 * same binary answering `netlet status` over the same socket (process start + one API call),
 * so the ratio shows what the hook adds to a CLI round trip; `netlet --version` times the
 * process start alone, which the hook pays too. Target: p99 ≤ 100 ms at 1,000.
 * Runs the agent in a namespace it creates.
 * Run: bun bench/libvirt/hook-latency.ts [instances=1000] [samples=50]
 */
import { loadavg } from "node:os";
import { Lab, nsRun, run } from "../../test/harness/netns.ts";
import { netletBinary } from "../../test/harness/binary.ts";
import { startNamespacedAgent } from "../../test/harness/agent-in-ns.ts";

const instances = Number(process.argv[2] ?? 1000);
const samples = Number(process.argv[3] ?? 50);
const bin = netletBinary();
const lab = new Lab();

const uuid = (i: number) => `b0000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
const mac = (i: number) =>
  `52:54:00:${((i >> 16) & 255).toString(16).padStart(2, "0")}:${((i >> 8) & 255).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;
const xml = (i: number, tap?: string) => `<domain type='qemu'><name>bench-${i}</name><uuid>${uuid(i)}</uuid><devices>
<interface type='bridge'><mac address='${mac(i)}'/><source bridge='br100'/>${tap ? `<target dev='${tap}'/>` : ""}</interface></devices></domain>`;

function timed(argv: string[], input?: string): number {
  const t0 = performance.now();
  run(argv, { input });
  return performance.now() - t0;
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

try {
  const { ns, socket } = await startNamespacedAgent(lab, {
    prefix: "nvhb",
    name: "bench",
    conf: ["my_ip = 192.0.2.1", "public_interface = lo", "libvirt_uri ="],
    bridges: [{ name: "br100" }],
  });
  run([bin, "network-create", "private", "--fixed-range-v4", "10.64.0.0/16", "--bridge", "br100", "--socket", socket]);
  // The existing instances: registered and plugged through the same hook, as libvirt would have.
  const hook = (i: number, op: string, tap?: string) => [
    bin,
    "libvirt",
    "hook",
    "--socket",
    socket,
    "--",
    `bench-${i}`,
    op,
    "begin",
    "-",
  ];
  for (let i = 0; i < instances; i++) {
    await fetch(`http://x/v1/instances`, {
      method: "POST",
      unix: socket,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ uuid: uuid(i), name: `bench-${i}`, macs: [mac(i)] }),
    } as RequestInit);
  }
  const prepare: number[] = [];
  const started: number[] = [];
  const status: number[] = [];
  const version: number[] = [];
  for (let k = 0; k < samples; k++) {
    const i = instances + k;
    const tap = `nvb${k}`;
    nsRun(ns, ["ip", "tuntap", "add", tap, "mode", "tap"]);
    nsRun(ns, ["ip", "link", "set", tap, "master", "br100", "up"]);
    prepare.push(timed(hook(i, "prepare"), xml(i)));
    started.push(timed(hook(i, "started", tap), xml(i, tap)));
    status.push(timed([bin, "status", "--socket", socket]));
    version.push(timed([bin, "--version"]));
  }
  const row = (name: string, xs: number[]) =>
    `| ${name} | ${pct(xs, 50).toFixed(1)} | ${pct(xs, 99).toFixed(1)} | ${(pct(xs, 50) / pct(status, 50)).toFixed(2)} |`;
  console.log(`hook latency with ${instances} instances on the host, ${samples} samples each (ms)`);
  console.log("| call | p50 | p99 | p50 / `netlet status` p50 |\n| --- | --- | --- | --- |");
  console.log(row("`libvirt hook … prepare` (register + address)", prepare));
  console.log(row("`libvirt hook … started` (plug, rules applied)", started));
  console.log(row("`netlet status` (peer: process start + one call)", status));
  console.log(row("`netlet --version` (process start alone)", version));
  console.log(
    `netlet's own share at p50 (hook − process start): prepare ${(pct(prepare, 50) - pct(version, 50)).toFixed(1)} ms, started ${(pct(started, 50) - pct(version, 50)).toFixed(1)} ms; load average ${loadavg()[0].toFixed(1)}`,
  );
} finally {
  await lab.cleanup();
}
