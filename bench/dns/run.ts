/**
 * DNS benchmark: dnsperf (Debian) against netlet's DnsService and against dnsmasq serving the
 * same zone (2,000 instance names) with the same upstream (a dnsmasq in an "internet"
 * namespace), from a guest namespace on the same bridge, runs interleaved. Three mixes:
 *   zone       A queries for instance names (both answer locally)
 *   cache-hot  200 outside names, warmed first (both answer from their cache)
 *   forwarded  a unique outside name per query (every one goes to the upstream)
 * Prints queries/s, p50 and p99 latency per server and mix (from dnsperf -v's per-query times),
 * the ratios netlet / dnsmasq (median of the ratios of runs made back to back), then the resident memory of both with 10,000 names and a full
 * 10,000-entry cache.
 *
 *   sudo bun bench/dns/run.ts [--seconds 2] [--rounds 5] [--mixes zone,cache-hot,forwarded]
 *
 * Needs root, dnsperf, dnsmasq and taskset; pins the servers to CPU 1, dnsperf and the upstream
 * to CPU 0.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import type { Subprocess } from "bun";
import { Lab, nsRun, stopProcess, waitFor } from "../../test/harness/netns.ts";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i].replace(/^--/, ""), process.argv[i + 1]);
const SECONDS = Number(args.get("seconds") ?? 2);
const ROUNDS = Number(args.get("rounds") ?? 5);
const MIXES = (args.get("mixes") ?? "zone,cache-hot,forwarded").split(",");
const NETLET = "10.20.0.2",
  DNSMASQ = "10.20.0.3",
  CLIENT = "10.20.0.10",
  UPSTREAM = "192.0.2.1";

const ip = (i: number) => `10.20.${8 + (i >> 8)}.${i & 255}`;
const names = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ hostname: `web-${i}`, project: "demo", v4: [ip(i)], v6: [], floating: [] }));

function prepare(dir: string, n: number, tag: string): void {
  const inst = names(n);
  writeFileSync(
    `${dir}/netlet-${tag}.json`,
    JSON.stringify({
      address: NETLET,
      allowed: ["10.20.0.0/16"],
      upstreams: [UPSTREAM],
      domain: "novalocal",
      instances: inst,
    }),
  );
  writeFileSync(
    `${dir}/hosts-${tag}`,
    `${inst.map((i) => `${i.v4[0]} web-${i.hostname.slice(4)}.novalocal ${i.hostname}`).join("\n")}\n`,
  );
}

function queryFiles(dir: string): void {
  writeFileSync(
    `${dir}/zone.txt`,
    `${names(2000)
      .map((i) => `${i.hostname}.novalocal A`)
      .join("\n")}\n`,
  );
  writeFileSync(`${dir}/cache-hot.txt`, `${Array.from({ length: 200 }, (_, i) => `h${i}.hot.example A`).join("\n")}\n`);
  // More unique names than any run sends, so every forwarded query is a cache miss.
  writeFileSync(
    `${dir}/forwarded.txt`,
    `${Array.from({ length: 300_000 }, (_, i) => `f${i}-${Date.now() % 100000}.fwd.example A`).join("\n")}\n`,
  );
  writeFileSync(`${dir}/fill.txt`, `${Array.from({ length: 10_000 }, (_, i) => `c${i}.hot.example A`).join("\n")}\n`);
}

function serverArgv(server: string, dir: string, tag: string): string[] {
  const pin = ["taskset", "-c", "1"];
  if (server === "netlet")
    return [
      ...pin,
      process.execPath,
      `${import.meta.dir}/netlet-server.ts`,
      `${dir}/netlet-${tag}.json`,
      `${dir}/netlet-mem.json`,
    ];
  return [
    ...pin,
    "dnsmasq",
    "--keep-in-foreground",
    "--no-resolv",
    "--no-hosts",
    `--addn-hosts=${dir}/hosts-${tag}`,
    "--domain=novalocal",
    "--local=/novalocal/",
    `--listen-address=${DNSMASQ}`,
    "--bind-interfaces",
    `--server=${UPSTREAM}`,
    "--cache-size=10000",
    "--local-ttl=5",
    `--log-facility=${dir}/dnsmasq.log`,
    "--user=root",
  ];
}

interface Result {
  server: string;
  mix: string;
  qps: number;
  p50: number;
  p99: number;
  lost: number;
}

const pct = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;

function dnsperf(client: string, target: string, file: string, extra: string[]): string {
  return nsRun(client, ["taskset", "-c", "0", "dnsperf", "-s", target, "-d", file, "-q", "100", "-t", "2", ...extra], {
    check: false,
  }).stdout;
}

function parse(server: string, mix: string, out: string): Result {
  const lat = [...out.matchAll(/^> \S+ \S+ \S+ ([\d.]+)$/gm)].map((m) => Number(m[1]) * 1000).sort((a, b) => a - b);
  const bad = [...out.matchAll(/^> (\S+) /gm)].filter((m) => m[1] !== "NOERROR").length;
  if (bad) console.error(`${server} ${mix}: ${bad} answers were not NOERROR`);
  return {
    server,
    mix,
    qps: Number(/Queries per second:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    lost: Number(/Queries lost:\s+(\d+)/.exec(out)?.[1] ?? NaN),
  };
}

async function start(lab: Lab, host: string, server: string, dir: string, tag: string): Promise<Subprocess> {
  const p = lab.spawn(host, serverArgv(server, dir, tag), { stdout: server === "netlet" ? "pipe" : "ignore" });
  const addr = server === "netlet" ? NETLET : DNSMASQ;
  await waitFor(() => nsRun(host, ["ss", "-uln"]).stdout.includes(`${addr}:53 `), 10000, 50);
  return p;
}

const rss = (p: Subprocess) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.pid}/status`, "utf8"))?.[1] ?? NaN);

async function main(): Promise<void> {
  const lab = new Lab();
  const dir = mkdtempSync(`${tmpdir()}/netlet-dnsbench-`);
  try {
    const host = lab.addNamespace("ndbh"),
      client = lab.addNamespace("ndbc"),
      internet = lab.addNamespace("ndbi");
    lab.addBridge(host, "br0", [`${NETLET}/16`, `${DNSMASQ}/16`]);
    const [, bridgeEnd] = lab.link(client, host, { addrA: `${CLIENT}/16` });
    nsRun(host, ["ip", "link", "set", bridgeEnd, "master", "br0"]);
    lab.link(host, internet, { addrA: "192.0.2.10/24", addrB: `${UPSTREAM}/24` });
    writeFileSync(
      `${dir}/upstream.conf`,
      `no-resolv\nno-hosts\nlisten-address=${UPSTREAM}\nbind-interfaces\nlocal-ttl=3600\naddress=/hot.example/198.51.100.1\naddress=/fwd.example/198.51.100.2\ncache-size=0\nuser=root\nlog-facility=${dir}/upstream.log\n`,
    );
    lab.spawn(internet, ["taskset", "-c", "0", "dnsmasq", "--keep-in-foreground", `--conf-file=${dir}/upstream.conf`]);
    for (const t of ["2k", "10k"]) prepare(dir, t === "2k" ? 2000 : 10_000, t);
    queryFiles(dir);
    // Both servers stay up (pinned to the same CPU, idle while the other is measured) and runs
    // alternate in short pairs: on a shared machine, load drifts between rounds, and a pair's
    // ratio is measured under nearly the same conditions.
    const results: Result[] = [];
    const ratios = new Map<string, { qps: number[]; p99: number[] }>();
    const procs = [await start(lab, host, "netlet", dir, "2k"), await start(lab, host, "dnsmasq", dir, "2k")];
    const target = (server: string) => (server === "netlet" ? NETLET : DNSMASQ);
    for (const server of ["netlet", "dnsmasq"]) dnsperf(client, target(server), `${dir}/zone.txt`, ["-n", "2"]); // warm-up: JIT, ARP
    for (const mix of MIXES) {
      if (mix === "cache-hot")
        for (const server of ["netlet", "dnsmasq"])
          dnsperf(client, target(server), `${dir}/cache-hot.txt`, ["-n", "1"]);
      const pair = { qps: [] as number[], p99: [] as number[] };
      ratios.set(mix, pair);
      for (let round = 0; round < ROUNDS; round++) {
        const got: Record<string, Result> = {};
        for (const server of round % 2 ? ["dnsmasq", "netlet"] : ["netlet", "dnsmasq"]) {
          const r = parse(
            server,
            mix,
            dnsperf(client, target(server), `${dir}/${mix}.txt`, ["-l", String(SECONDS), "-v"]),
          );
          results.push((got[server] = r));
          console.log(
            `round ${round + 1} ${server.padEnd(8)} ${mix.padEnd(10)} ${r.qps.toFixed(0).padStart(7)} q/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  lost ${r.lost}`,
          );
        }
        pair.qps.push(got.netlet.qps / got.dnsmasq.qps);
        pair.p99.push(got.netlet.p99 / got.dnsmasq.p99);
      }
    }
    for (const p of procs) await stopProcess(p);
    const med = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    };
    console.log("\nmix         server       q/s  p50 ms  p99 ms   (medians of the rounds)");
    for (const mix of MIXES) {
      const row = (s: string) => {
        const of = results.filter((r) => r.server === s && r.mix === mix);
        return { qps: med(of.map((r) => r.qps)), p50: med(of.map((r) => r.p50)), p99: med(of.map((r) => r.p99)) };
      };
      for (const s of ["netlet", "dnsmasq"]) {
        const x = row(s);
        console.log(
          `${mix.padEnd(11)} ${s.padEnd(9)} ${x.qps.toFixed(0).padStart(7)} ${x.p50.toFixed(3).padStart(7)} ${x.p99.toFixed(3).padStart(7)}`,
        );
      }
      const pr = ratios.get(mix)!;
      console.log(
        `${mix.padEnd(11)} netlet/dnsmasq, median of paired rounds: ${med(pr.qps).toFixed(2)}x q/s (rounds ${pr.qps.map((x) => x.toFixed(2)).join(" ")}), p99 ${med(pr.p99).toFixed(2)}x`,
      );
    }
    console.log("\nresident memory with 10,000 names and a full 10,000-entry cache:");
    for (const server of ["netlet", "dnsmasq"]) {
      const p = await start(lab, host, server, dir, "10k");
      const target = server === "netlet" ? NETLET : DNSMASQ;
      const heapOf = async () => {
        if (server !== "netlet") return null;
        rmSync(`${dir}/netlet-mem.json`, { force: true });
        p.kill("SIGUSR2");
        return waitFor(
          () => {
            try {
              return JSON.parse(readFileSync(`${dir}/netlet-mem.json`, "utf8")) as { heapUsed: number; cache: number };
            } catch {
              return null;
            }
          },
          5000,
          50,
        );
      };
      const mib = (kb: number) => `${(kb / 1024).toFixed(1)} MiB`;
      const [rss0, heap0] = [rss(p), await heapOf()];
      dnsperf(client, target, `${dir}/fill.txt`, ["-n", "1"]);
      const [rss1, heap1] = [rss(p), await heapOf()];
      const heap =
        heap0 && heap1
          ? `; JS heap after a full GC ${mib(heap0.heapUsed / 1024)} → ${mib(heap1.heapUsed / 1024)} (${heap1.cache} cache entries)`
          : "";
      console.log(
        `  ${server.padEnd(8)} RSS ${mib(rss0)} after loading the names, ${mib(rss1)} with the cache full${heap}`,
      );
      await stopProcess(p);
    }
  } finally {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
