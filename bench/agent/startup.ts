/**
 * Agent start-up and footprint: time from exec to the admin API answering (start-to-serving),
 * and resident memory after idling with a network and two instances. Targets: start ≤ 300 ms,
 * idle RSS ≤ 80 MB. Runs the built binary in a namespace it creates.
 * Run: bun bench/agent/startup.ts [runs]
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Lab, run, stopProcess } from "../../test/harness/netns.ts";
import { netletBinary } from "../../test/harness/binary.ts";

const runs = Number(process.argv[2] ?? 5);
const bin = netletBinary();
const lab = new Lab();
const ns = lab.addNamespace("nlbst");
const times: number[] = [];
let rssMb = 0;

function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : 0;
}

try {
  for (let i = 0; i < runs; i++) {
    const dir = mkdtempSync(join(tmpdir(), "netlet-start-"));
    const socket = join(dir, "s.sock");
    writeFileSync(join(dir, "c.conf"), `[DEFAULT]\nhost = bench\nstate_path = ${dir}\nmy_ip = 192.0.2.1\n`);
    const t0 = performance.now();
    const p = lab.spawn(ns, [bin, "agent", "--config", join(dir, "c.conf"), "--socket", socket]);
    while (true) {
      const r = await fetch("http://x/v1/status", { unix: socket } as RequestInit).catch(() => null);
      if (r?.ok) break;
      await Bun.sleep(2);
    }
    times.push(performance.now() - t0);
    if (i === runs - 1) {
      run([bin, "network-create", "private", "--fixed-range-v4", "10.0.0.0/24", "--socket", socket]);
      run([bin, "boot", "vm1", "--socket", socket]);
      run([bin, "boot", "vm2", "--socket", socket]);
      await Bun.sleep(5000);
      rssMb = rss(p.pid);
    }
    await stopProcess(p);
  }
} finally {
  await lab.cleanup();
}
times.sort((a, b) => a - b);
console.log(`binary: ${(statSync(bin).size / 1e6).toFixed(1)} MB`);
console.log(
  `start-to-serving (exec → admin API answers), ${runs} runs: median ${times[Math.floor(runs / 2)].toFixed(0)} ms, min ${times[0].toFixed(0)} ms, max ${times[runs - 1].toFixed(0)} ms (target ≤ 300 ms)`,
);
console.log(`idle RSS with 1 network and 2 instances after 5 s: ${rssMb.toFixed(1)} MB (target ≤ 80 MB)`);
