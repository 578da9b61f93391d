/**
 * The declared-port guard's two costs.
 * 1. Plug-to-protected: the real agent in a namespace with N instances (all plugged), then M more
 *    plugs one at a time; each `POST …/plug` returns only once the binding is in the kernel, so its
 *    latency is the time from the call to the rules applied. Target: p99 ≤ 50 ms at 10,000.
 * 2. Per-packet cost: iperf3 between two guests on one bridge, with the rules netlet programs for
 *    them and with `table bridge netlet` removed (everything else equal), interleaved rounds.
 *    Target: ≥ 0.9×.
 * Run: bun bench/ports/run.ts [sizes=10,10000] [plugs=50] [rounds=3]
 */
import { Dataplane } from "../../src/dataplane/apply.ts";
import { desiredFromFixture } from "../../src/dataplane/desired.ts";
import { spawnExec } from "../../src/sys/exec.ts";
import { Registry } from "../../src/metrics.ts";
import { Lab, nsRun } from "../../test/harness/netns.ts";
import { startNamespacedAgent } from "../../test/harness/agent-in-ns.ts";
import { createLogger } from "../../src/log.ts";

const sizes = (process.argv[2] ?? "10,10000").split(",").map(Number);
const plugs = Number(process.argv[3] ?? 50);
const rounds = Number(process.argv[4] ?? 3);

/** Median duration of each reconcile step during the measured plugs, per host size. */
const stepsOf = new Map<number, string>();
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function api(
  socket: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: any }> {
  const r = await fetch(`http://x${path}`, {
    method,
    unix: socket,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  } as RequestInit);
  return { status: r.status, json: await r.json() };
}

async function plugLatency(n: number): Promise<{ p50: number; p99: number; max: number; bootS: number }> {
  const lab = new Lab();
  try {
    const agent = await startNamespacedAgent(lab, {
      prefix: "nlbpl",
      name: "bench",
      conf: ["my_ip = 192.0.2.1", "public_interface = lo"],
    });
    const { ns, socket } = agent;
    await api(socket, "POST", "/v1/networks", { label: "bench", fixed_range_v4: "10.128.0.0/16", bridge: "brbench" });
    const t0 = performance.now();
    // The host's instances: booted, then plugged, 64 requests at a time (the reconciler folds
    // concurrent changes into shared passes).
    const batch = async (make: (i: number) => Promise<{ status: number; json: unknown }>, ok: number) => {
      for (let i = 0; i < n; i += 64) {
        await Promise.all(
          Array.from({ length: Math.min(64, n - i) }, (_, k) =>
            make(i + k).then((r) => {
              if (r.status !== ok) throw new Error(JSON.stringify(r.json));
            }),
          ),
        );
      }
    };
    await batch((i) => api(socket, "POST", "/v1/instances", { name: `vm${i}`, networks: ["bench"] }), 201);
    await batch((i) => api(socket, "POST", `/v1/instances/vm${i}/plug`, { port: `bp${i}` }), 200);
    const bootS = (performance.now() - t0) / 1000;
    for (let j = 0; j < plugs; j++)
      await api(socket, "POST", "/v1/instances", { name: `late${j}`, networks: ["bench"] });
    const ms: number[] = [];
    const steps: Record<string, number[]> = {};
    for (let j = 0; j < plugs; j++) {
      // One guest starting at a time, as a hypervisor's hook plugs it: a lone change after a quiet spell.
      await Bun.sleep(200);
      const t = performance.now();
      const r = await api(socket, "POST", `/v1/instances/late${j}/plug`, { port: `lp${j}` });
      ms.push(performance.now() - t);
      if (r.status !== 200) throw new Error(JSON.stringify(r.json));
      const st = (await api(socket, "GET", "/v1/status")).json as { reconcile: { stepMs: Record<string, number> } };
      for (const [k, v] of Object.entries(st.reconcile.stepMs)) (steps[k] ??= []).push(v);
    }
    stepsOf.set(
      n,
      Object.entries(steps)
        .map(([k, v]) => `${k} ${pct(v, 50).toFixed(0)}`)
        .join(", "),
    );
    const set = nsRun(ns, ["nft", "list", "set", "bridge", "netlet", "vm-ports"]).stdout;
    if (!set.includes(`"lp${plugs - 1}"`)) throw new Error("the last plug is not in vm-ports");
    await agent.stop();
    return { p50: pct(ms, 50), p99: pct(ms, 99), max: Math.max(...ms), bootS };
  } finally {
    await lab.cleanup();
  }
}

async function throughput(): Promise<{ with: number[]; without: number[] }> {
  const lab = new Lab();
  try {
    const host = lab.addNamespace("nlbpt");
    lab.addBridge(host, "brpt", ["10.9.0.1/24"]);
    const macs = ["fa:16:3e:09:00:0a", "fa:16:3e:09:00:0b"];
    const vms = macs.map((mac, i) => {
      const vm = lab.addVm(host, { bridge: "brpt", mac });
      nsRun(vm.ns, ["ip", "addr", "add", `10.9.0.${10 + i}/24`, "dev", "eth0"]);
      return vm;
    });
    const d = desiredFromFixture({
      networks: [{ id: "n", bridge: "brpt", cidr: "10.9.0.0/24", hostAddress: "10.9.0.1" }],
      instances: vms.map((vm, i) => ({
        uuid: `vm${i}`,
        groups: ["g"],
        vifs: [{ mac: macs[i], network: "n", ipv4: `10.9.0.${10 + i}`, port: vm.hostIf }],
      })),
      groups: [
        {
          id: "g",
          name: "g",
          rules: [
            {
              direction: "ingress",
              ethertype: "IPv4",
              protocol: "tcp",
              fromPort: 1,
              toPort: 65535,
              cidr: "0.0.0.0/0",
              sourceGroupId: null,
            },
          ],
        },
      ],
    });
    const dp = new Dataplane({
      exec: spawnExec(["ip", "netns", "exec", host]),
      log: createLogger({ write: () => {} }),
      registry: new Registry(),
    });
    nsRun(host, ["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"], { check: false });
    lab.spawn(vms[1].ns, ["iperf3", "-s"], { stdout: "ignore" });
    await Bun.sleep(300);
    const gbps = () => {
      const r = nsRun(vms[0].ns, ["iperf3", "-c", "10.9.0.11", "-t", "4", "-J"]);
      return JSON.parse(r.stdout).end.sum_received.bits_per_second / 1e9;
    };
    const out = { with: [] as number[], without: [] as number[] };
    for (let i = 0; i < rounds; i++) {
      await dp.sync(d);
      out.with.push(gbps());
      nsRun(host, ["nft", "delete", "table", "bridge", "netlet"]);
      out.without.push(gbps());
    }
    return out;
  } finally {
    await lab.cleanup();
  }
}

for (const n of sizes) {
  const r = await plugLatency(n);
  console.log(
    `plug-to-protected with ${n} plugged instances on the host (${plugs} plugs): p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms (set-up: ${n} boots and plugs in ${r.bootS.toFixed(1)} s); median pass steps (ms): ${stepsOf.get(n)}`,
  );
}
const t = await throughput();
const med = (xs: number[]) => pct(xs, 50);
console.log(
  `iperf3 guest→guest, ${rounds} interleaved rounds of 4 s: with the guard ${t.with.map((x) => x.toFixed(2)).join("/")} Gbit/s, without ${t.without.map((x) => x.toFixed(2)).join("/")} Gbit/s; median ratio ${(med(t.with) / med(t.without)).toFixed(2)}× (target ≥ 0.9×)`,
);
