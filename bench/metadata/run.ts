/**
 * netlet metadata vs nginx (Debian) serving the same rendered documents as static files, on
 * loopback. `bun bench/metadata/run.ts [seconds-per-wrk-run=5] [storm-crawls=200]`
 *
 * 1. wrk at 1, 50 and 200 connections, a Lua script cycling through the cloud-init crawl paths
 *    of instance 0 (keep-alive, as wrk does).
 * 2. Boot storm: N concurrent cloud-init-shaped crawls, each from its own source address
 *    (a distinct instance for netlet) and one connection per request, as cloud-init's
 *    url_helper does; per-request latency and the storm's wall time.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMetadataApp } from "../../src/metadata/app.ts";
import { MemorySource } from "../../src/metadata/source.ts";
import { Registry } from "../../src/metrics.ts";
import { addressOf, CRAWL_PATHS, fleetView } from "./fleet.ts";

const SECONDS = Number(process.argv[2] ?? 5);
const STORM = Number(process.argv[3] ?? 200);
const NETLET_PORT = 18775;
const NGINX_PORT = 18776;
const dir = mkdtempSync(join(tmpdir(), "nlmd-bench-"));
// nginx workers drop root privileges and must be able to read the docroot.
chmodSync(dir, 0o755);

/** Instance 0's documents, rendered by the app itself, as files nginx serves at `<path>/_`. */
async function writeDocroot(root: string): Promise<void> {
  const source = new MemorySource();
  source.put(fleetView(0));
  const app = createMetadataApp({ source, log: () => {}, registry: new Registry() });
  for (const path of new Set(CRAWL_PATHS)) {
    const res = await app.request(path, {}, { address: "127.0.0.1", networkId: null });
    if (res.status !== 200) throw new Error(`Cannot render ${path}: status ${res.status}`);
    mkdirSync(join(root, path), { recursive: true });
    writeFileSync(join(root, path, "_"), new Uint8Array(await res.arrayBuffer()));
  }
}

function nginxConfig(root: string): string {
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log ${dir}/nginx-access.log;
  default_type text/plain;
  client_body_temp_path ${dir}/tmp;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:${NGINX_PORT} reuseport backlog=4096;
    root ${root};
    location / { try_files $uri/_ =404; }
  }
}
`;
}

async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/`).then(
      () => true,
      () => false,
    );
    if (ok) return;
    await Bun.sleep(100);
  }
  throw new Error(`Cannot reach 127.0.0.1:${port}`);
}

interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
}

function wrk(port: number, connections: number, lua: string): WrkResult {
  const threads = Math.min(2, connections);
  const p = Bun.spawnSync([
    "wrk",
    "-t",
    String(threads),
    "-c",
    String(connections),
    "-d",
    `${SECONDS}s`,
    "--latency",
    "-s",
    lua,
    `http://127.0.0.1:${port}`,
  ]);
  const out = p.stdout.toString();
  const ms = (label: string) => {
    const m = new RegExp(`\\s${label}\\s+([0-9.]+)(us|ms|s)`).exec(out);
    if (!m) throw new Error(`Cannot parse wrk output:\n${out}${p.stderr}`);
    return Number(m[1]) * (m[2] === "us" ? 0.001 : m[2] === "s" ? 1000 : 1);
  };
  const rps = Number(/Requests\/sec:\s+([0-9.]+)/.exec(out)?.[1]);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (non2xx) throw new Error(`wrk saw ${non2xx[1]} error responses on port ${port}`);
  return { rps, p50: ms("50%"), p99: ms("99%") };
}

/** One GET on a fresh connection from `local`; resolves with the latency in ms. */
function oneRequest(port: number, local: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const sock = net.connect({ host: "127.0.0.1", port, localAddress: local });
    let head = "";
    sock.setTimeout(10000, () => sock.destroy(new Error("timeout")));
    sock.on("connect", () =>
      sock.write(
        `GET ${path} HTTP/1.1\r\nHost: 169.254.169.254\r\nUser-Agent: Cloud-Init/22.4.2\r\nConnection: close\r\n\r\n`,
      ),
    );
    sock.on("data", (d) => {
      if (head.length < 16) head += d.toString("latin1");
    });
    sock.on("error", reject);
    sock.on("close", () =>
      head.startsWith("HTTP/1.1 200")
        ? resolve(performance.now() - started)
        : reject(new Error(`${path}: ${head.slice(0, 20)}`)),
    );
  });
}

async function storm(port: number): Promise<{ wallMs: number; rps: number; p50: number; p99: number }> {
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: STORM }, async (_, i) => {
      for (const path of CRAWL_PATHS) latencies.push(await oneRequest(port, addressOf(i + 1), path));
    }),
  );
  const wallMs = performance.now() - started;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  return { wallMs, rps: (latencies.length / wallMs) * 1000, p50: q(0.5), p99: q(0.99) };
}

const fmt = (n: number, d = 2) => n.toFixed(d).padStart(10);

async function main(): Promise<void> {
  const root = join(dir, "docroot");
  await writeDocroot(root);
  mkdirSync(join(dir, "tmp"));
  writeFileSync(join(dir, "nginx.conf"), nginxConfig(root));
  const lua = join(dir, "crawl.lua");
  writeFileSync(
    lua,
    `local paths = {${CRAWL_PATHS.map((p) => JSON.stringify(p)).join(",")}}\nlocal i = 0\nrequest = function()\n  i = i % #paths + 1\n  return wrk.format("GET", paths[i])\nend\n`,
  );

  // WORKERS=n runs n server processes sharing the port (SO_REUSEPORT), to measure metadata_workers.
  const workers = Number(process.env.WORKERS ?? 1);
  const env = { ...process.env, REUSEPORT: workers > 1 ? "1" : "0" };
  const netlets = Array.from({ length: workers }, () =>
    Bun.spawn([process.execPath, join(import.meta.dir, "server.ts"), String(NETLET_PORT), String(STORM)], {
      stdout: "ignore",
      stderr: "inherit",
      env,
    }),
  );
  const nginx = Bun.spawn(["nginx", "-c", join(dir, "nginx.conf"), "-g", "daemon off;"], {
    stdout: "ignore",
    stderr: "inherit",
  });
  try {
    await waitListening(NETLET_PORT);
    await waitListening(NGINX_PORT);
    console.log(
      `cpus=${navigator.hardwareConcurrency} netlet processes=${workers} wrk ${SECONDS}s per run; storm ${STORM} crawls x ${CRAWL_PATHS.length} requests`,
    );
    console.log(
      `${"test".padEnd(16)}${"netlet req/s".padStart(14)}${"p50 ms".padStart(10)}${"p99 ms".padStart(10)}${"nginx req/s".padStart(14)}${"p50 ms".padStart(10)}${"p99 ms".padStart(10)}${"ratio".padStart(8)}`,
    );
    for (const c of [1, 50, 200]) {
      const a = wrk(NETLET_PORT, c, lua);
      const b = wrk(NGINX_PORT, c, lua);
      console.log(
        `${`wrk -c${c}`.padEnd(16)}${fmt(a.rps, 0)}    ${fmt(a.p50)}${fmt(a.p99)}${fmt(b.rps, 0)}    ${fmt(b.p50)}${fmt(b.p99)}${(a.rps / b.rps).toFixed(2).padStart(8)}`,
      );
    }
    const a = await storm(NETLET_PORT);
    const b = await storm(NGINX_PORT);
    console.log(
      `${`storm ${STORM}`.padEnd(16)}${fmt(a.rps, 0)}    ${fmt(a.p50)}${fmt(a.p99)}${fmt(b.rps, 0)}    ${fmt(b.p50)}${fmt(b.p99)}${(a.rps / b.rps).toFixed(2).padStart(8)}`,
    );
    console.log(`storm wall time: netlet ${a.wallMs.toFixed(0)} ms, nginx ${b.wallMs.toFixed(0)} ms`);
  } finally {
    for (const n of netlets) n.kill();
    nginx.kill("SIGQUIT");
    await Promise.all([...netlets.map((n) => n.exited), nginx.exited]);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
