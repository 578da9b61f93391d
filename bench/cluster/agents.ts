/**
 * IPAM latency with the real binary (T9, T10): three agents in network namespaces on an underlay
 * bridge (real UDP, AES-256-GCM, SQLite), joined into one cluster. Prints
 *  - the first boot on each host of a new network: the host needs a block, granted by a
 *    majority of the voters (T9: new-block latency ≤ 1 s with quorum);
 *  - sequential boots on each host through the admin API (HTTP over the unix socket): p50 /
 *    p99 / max as the caller sees them, which includes the agent's reconcile pass after every
 *    boot (DHCP table, nft rules) holding its event loop;
 *  - the same with all three hosts booting at once;
 *  - the allocation itself, from each agent's `netlet_cluster_allocation_seconds` histogram
 *    (waits for a new block included; the host claims its next block while it still has
 *    `headroom` free addresses): T10, p99 < 5 ms.
 * Also prints the last reconcile pass of each agent: every boot triggers one, on the event loop
 * that serves the API.
 * Needs root; only traffic inside the namespaces it creates.
 *
 *   bun bench/cluster/agents.ts            # 200 boots per host
 *   BOOTS=500 bun bench/cluster/agents.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { keygen } from "../../src/cluster/keyring.ts";
import { type AgentHost, startAgent, underlayHosts } from "../../test/harness/agent-hosts.ts";
import { Lab, nsRun, waitFor } from "../../test/harness/netns.ts";

const BOOTS = Number(process.env.BOOTS ?? 200);
const KEY = keygen();

type Host = AgentHost;

async function api<T>(h: Host, method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(`http://netlet${path}`, {
    method,
    unix: h.socket,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  } as RequestInit);
  return { status: res.status, json: (await res.json()) as T };
}

async function boot(h: Host, name: string): Promise<number> {
  const t = performance.now();
  const r = await api<{ error?: string }>(h, "POST", "/v1/instances", { name, networks: ["bench"] });
  if (r.status !== 201) throw new Error(`boot ${name} on ${h.name}: ${r.status} ${JSON.stringify(r.json)}`);
  return performance.now() - t;
}

/**
 * One histogram summed over the hosts' /metrics (minus `since`, an earlier reading): p50, p99
 * and max as the bucket bound they fall in.
 */
function histogram(hosts: Host[], name: string, since = new Map<string, number>()) {
  const buckets = new Map<string, number>();
  for (const h of hosts) {
    const text = nsRun(h.ns, ["curl", "-s", "127.0.0.1:9775/metrics"], { check: false }).stdout;
    for (const m of text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)$`, "gm")))
      buckets.set(m[1], (buckets.get(m[1]) ?? 0) + Number(m[2]));
  }
  for (const [le, n] of since) buckets.set(le, (buckets.get(le) ?? 0) - n);
  const total = buckets.get("+Inf") ?? 0;
  const at = (q: number) => [...buckets].find(([, n]) => n >= q * total)?.[0];
  const ms = (le: string | undefined) =>
    le === undefined || le === "+Inf" ? "above the last bucket" : `≤ ${Number(le) * 1000} ms`;
  return { buckets, total, text: `p50 ${ms(at(0.5))}, p99 ${ms(at(0.99))}, max ${ms(at(1))}` };
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];
const fmt = (xs: number[]) =>
  `p50 ${pct(xs, 50).toFixed(1)} ms  p99 ${pct(xs, 99).toFixed(1)} ms  max ${Math.max(...xs).toFixed(1)} ms  (${xs.filter((x) => x > 20).length} of ${xs.length} over 20 ms)`;

async function main(): Promise<void> {
  const lab = new Lab();
  const root = mkdtempSync(join(tmpdir(), "netlet-bench-agents-"));
  try {
    const hosts = underlayHosts(lab, ["ba", "bb", "bc"], { net: "10.252.0", root, nsPrefix: "nlb" });
    for (const h of hosts) startAgent(lab, h, KEY, h === hosts[0] ? "" : `${hosts[0].ip}:7946`);
    const voters = async () =>
      (await Promise.all(hosts.map((h) => api<{ voters?: string[] }>(h, "GET", "/v1/status").catch(() => null)))).map(
        (r) => r?.json.voters?.length ?? 0,
      );
    const t0 = performance.now();
    if (!(await waitFor(async () => (await voters()).every((n) => n === 3), 60_000, 100)))
      throw new Error("the three agents did not all become voters");
    console.log(`three agents up, every one a voter: ${((performance.now() - t0) / 1000).toFixed(1)} s after start`);

    const created = await api(hosts[0], "POST", "/v1/networks", { label: "bench", fixed_range_v4: "10.40.0.0/18" });
    if (created.status !== 201) throw new Error(`network-create: ${JSON.stringify(created.json)}`);
    if (
      !(await waitFor(
        async () =>
          (
            await Promise.all(hosts.map((h) => api<unknown[]>(h, "GET", "/v1/networks")))
          ).every((r) => r.json.length === 1),
        10_000,
        50,
      ))
    )
      throw new Error("network not replicated");

    const lagBefore = histogram(hosts, "netlet_cluster_event_loop_lag_seconds").buckets;
    const first: string[] = [];
    for (const h of hosts) first.push(`${h.name} ${(await boot(h, `first-${h.name}`)).toFixed(0)} ms`);
    console.log(
      `first boot on each host (host address and instance address need a new block from a majority): ${first.join(", ")}`,
    );

    for (const h of hosts) {
      const lat: number[] = [];
      for (let k = 0; k < BOOTS; k++) lat.push(await boot(h, `seq-${h.name}-${k}`));
      console.log(`${BOOTS} sequential boots on ${h.name}: ${fmt(lat)}`);
    }
    const together = await Promise.all(
      hosts.map(async (h) => {
        const lat: number[] = [];
        for (let k = 0; k < BOOTS; k++) lat.push(await boot(h, `par-${h.name}-${k}`));
        return lat;
      }),
    );
    console.log(`${BOOTS} boots on each host, all three at once: ${fmt(together.flat())}`);
    const alloc = histogram(hosts, "netlet_cluster_allocation_seconds");
    console.log(`allocations (all hosts, ${alloc.total}): ${alloc.text}`);
    const lag = histogram(hosts, "netlet_cluster_event_loop_lag_seconds", lagBefore);
    console.log(
      `event-loop lag during the boots (every 100 ms, all hosts, ${lag.total} samples): ${lag.text}   | target p99 < 20 ms (T12)`,
    );
    const expected = 3 + 6 * BOOTS;
    const tList = performance.now();
    const listed = async () => (await api<{ ports: { address: string }[] }[]>(hosts[0], "GET", "/v1/instances")).json;
    await waitFor(async () => (await listed()).filter((i) => i.ports.length > 0).length === expected, 60_000, 200);
    const all = await listed();
    const addrs = all.flatMap((i) => i.ports.map((p) => p.address));
    const passes = await Promise.all(
      hosts.map(
        async (h) =>
          (await api<{ reconcile?: { lastPassMs?: number; passes?: number } }>(h, "GET", "/v1/status")).json.reconcile,
      ),
    );
    console.log(
      `reconcile pass (DHCP table, RA, metadata, nft rules for ${expected} instances cluster-wide): ${passes.map((p, i) => `${hosts[i].name} ${p?.lastPassMs} ms after ${p?.passes} passes`).join(", ")}`,
    );
    console.log(
      `${hosts[0].name} lists ${all.length} of ${expected} instances with ${addrs.length} ports, ${((performance.now() - tList) / 1000).toFixed(1)} s after the last boot; distinct addresses: ${new Set(addrs).size}`,
    );
  } finally {
    await lab.cleanup();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
