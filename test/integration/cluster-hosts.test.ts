/**
 * Three host namespaces on an underlay bridge, each running the real binary, joined into one
 * encrypted cluster: replication of admin writes, unique addresses across hosts, failure
 * detection, a partition (majority keeps allocating, minority refuses cleanly once its blocks
 * run out), healing with no duplicate, a wiped host rejoining, and a wrong key rejected.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Lab, nsRun, requireNetns, run, stopProcess, waitFor } from "../harness/netns.ts";
import { type AgentHost, startAgent, underlayHosts } from "../harness/agent-hosts.ts";
import { netletBinary } from "../harness/binary.ts";
import { keygen } from "../../src/cluster/keyring.ts";

type Host = AgentHost;

const KEY = keygen();

describe.skipIf(!requireNetns())("cluster of three real agents", () => {
  const lab = new Lab();
  const root = mkdtempSync(join(tmpdir(), "netlet-cluster-"));
  const hosts: Host[] = [];

  const cli = (h: Host, ...args: string[]) => run([netletBinary(), ...args, "--socket", h.socket], { check: false });
  const json = <T>(h: Host, ...args: string[]): T => {
    const r = cli(h, ...args, "--json");
    if (r.code !== 0) throw new Error(`${args.join(" ")} on ${h.name}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  /** Each agent's last log lines, shown when a cluster-wide wait fails. */
  const logs = () => hosts.map((h) => `--- ${h.name}\n${h.proc ? lab.logOf(h.proc, 3000) : ""}`).join("\n");
  const states = (h: Host) =>
    Object.fromEntries(json<{ id: string; state: string }[]>(h, "members").map((m) => [m.id, m.state]));

  const start = (h: Host) => startAgent(lab, h, KEY, h === hosts[0] ? "" : `${hosts[0].ip}:7946`);

  /** Drop all traffic between `h` and the others (nft in h's own namespace, a table of the test's). */
  function isolate(h: Host, on: boolean): void {
    if (!on) return void nsRun(h.ns, ["nft", "delete", "table", "inet", "nltestpart"], { check: false });
    const others = hosts
      .filter((x) => x !== h)
      .map((x) => x.ip)
      .join(", ");
    nsRun(h.ns, ["nft", "-f", "-"], {
      input: `table inet nltestpart {\n chain i { type filter hook input priority -300; ip saddr { ${others} } drop; }\n chain o { type filter hook output priority -300; ip daddr { ${others} } drop; }\n}\n`,
    });
  }

  /** Inside a partition of C from A and B: both sides serve, the majority allocates, the minority refuses once its blocks run out. */
  async function partitioned(a: Host, c: Host): Promise<void> {
    expect(await waitFor(() => states(a).hc !== "alive" && states(c).ha !== "alive", 20000, 200)).toBe(true);
    // The majority claims new blocks as it needs them.
    for (let i = 0; i < 20; i++) {
      const r = cli(a, "boot", `maj-${i}`, "--network", "private");
      expect([i, r.code, r.stderr]).toEqual([i, 0, ""]);
    }
    // The minority allocates from the block it holds, then fails with a clear error.
    let refused = "";
    for (let i = 0; i < 20 && !refused; i++) {
      const r = cli(c, "boot", `min-${i}`, "--network", "private");
      if (r.code !== 0) refused = r.stderr;
    }
    expect(refused, logs()).toMatch(/no address for this host on network .*: .*majority/);
  }

  beforeAll(async () => {
    hosts.push(...underlayHosts(lab, ["ha", "hb", "hc"], { net: "10.253.0", root, nsPrefix: "nlc" }));
    for (const h of hosts) start(h);
    for (const h of hosts) expect(await waitFor(() => cli(h, "status").code === 0, 15000)).toBe(true);
    const all = await waitFor(
      () => hosts.every((h) => Object.values(states(h)).filter((s) => s === "alive").length === 3),
      15000,
    );
    expect(all).toBe(true);
  }, 60_000);

  afterAll(() => lab.cleanup().then(() => rmSync(root, { recursive: true, force: true })));

  test("a network created on A is usable on B and C within 5 s", async () => {
    expect(cli(hosts[0], "network-create", "private", "--fixed-range-v4", "10.30.0.0/22").code).toBe(0);
    const t0 = Date.now();
    const seen = await waitFor(
      () => hosts.every((h) => json<{ label: string }[]>(h, "network-list").some((n) => n.label === "private")),
      5000,
      50,
    );
    expect(seen).toBe(true);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  test("instances booted concurrently on all three hosts get distinct addresses", async () => {
    const boots = hosts.flatMap((h, i) =>
      [0, 1, 2].map((j) =>
        Bun.spawn(
          [netletBinary(), "boot", `vm-${h.name}-${j}`, "--network", "private", "--json", "--socket", h.socket],
          { stdout: "pipe", stderr: "pipe" },
        ),
      ),
    );
    const outs = await Promise.all(
      boots.map(async (p) => ({
        code: await p.exited,
        out: await new Response(p.stdout).text(),
        err: await new Response(p.stderr).text(),
      })),
    );
    for (const o of outs) expect(o.err).toBe("");
    const addrs = outs.map((o) => JSON.parse(o.out).ports[0].address as string);
    expect(new Set(addrs).size).toBe(9);
    // Every host sees all nine (replicated), each exactly once.
    const everywhere = await waitFor(() => hosts.every((h) => json<unknown[]>(h, "list").length === 9), 10000);
    expect(
      everywhere,
      `${hosts.map((h) => `${h.name}: ${json<unknown[]>(h, "list").length}`).join(", ")}\n${logs()}`,
    ).toBe(true);
  }, 60_000);

  test("a partition: both sides keep serving, the majority allocates, the minority refuses cleanly when its blocks run out; healing converges with no duplicate", async () => {
    const [a, b, c] = hosts;
    // Blocks need a majority of the IPAM voters: wait until all three hosts were admitted.
    expect(
      await waitFor(() => hosts.every((h) => json<{ voters: string[] }>(h, "status").voters?.length === 3), 20000, 200),
      logs(),
    ).toBe(true);
    // Each step of address agreement is in the log (docs/operations.md, "Adding and forgetting hosts").
    const logged = (h: Host) => lab.logOf(h.proc!, 1_000_000);
    expect(
      await waitFor(
        () =>
          hosts.every(
            (h) => /msg="ipam voting"/.test(logged(h)) && /msg="ipam voters" .*voters="ha,hb,hc"/.test(logged(h)),
          ),
        5000,
        100,
      ),
      logs(),
    ).toBe(true);
    isolate(c, true);
    try {
      await partitioned(a, c);
    } finally {
      isolate(c, false);
    }
    const healed = await waitFor(
      () => hosts.every((h) => Object.values(states(h)).every((s) => s === "alive")),
      20000,
      200,
    );
    expect(healed, `${JSON.stringify(hosts.map((h) => states(h)))}\n${logs()}`).toBe(true);
    const t0 = Date.now();
    const converged = await waitFor(
      () => {
        const lists = hosts.map((h) =>
          json<{ uuid: string }[]>(h, "list")
            .map((x) => x.uuid)
            .sort()
            .join(),
        );
        return lists.every((l) => l === lists[0]);
      },
      5000,
      100,
    );
    expect(
      converged,
      `${hosts.map((h) => `${h.name}: ${json<unknown[]>(h, "list").length}`).join(", ")}\n${logs()}`,
    ).toBe(true);
    expect(Date.now() - t0).toBeLessThan(5000);
    const all = json<{ ports: { address: string }[] }[]>(b, "list").map((i) => i.ports[0].address);
    expect(new Set(all).size).toBe(all.length);
    for (const h of hosts)
      expect(json<{ alarms: string[] }>(h, "status").alarms.filter((x) => /duplicate/i.test(x))).toEqual([]);
  }, 120_000);

  test("killing C's agent is noticed by A and B within 10 s", async () => {
    const c = hosts[2];
    c.proc!.kill("SIGKILL");
    await c.proc!.exited;
    const t0 = Date.now();
    const dead = await waitFor(() => [hosts[0], hosts[1]].every((h) => states(h).hc === "dead"), 10000, 100);
    expect(dead).toBe(true);
    expect(Date.now() - t0).toBeLessThan(10000);
  }, 30_000);

  test("a host restarted with its state directory wiped rejoins and never reuses an address in use", async () => {
    const c = hosts[2];
    rmSync(c.dir, { recursive: true, force: true });
    start(c);
    expect(await waitFor(() => cli(c, "status").code === 0, 15000)).toBe(true);
    // The wiped host learns the cluster's state again before it can boot on the network.
    expect(await waitFor(() => json<{ label: string }[]>(c, "network-list").length === 1, 30000, 200), logs()).toBe(
      true,
    );
    const r = cli(c, "boot", "after-wipe", "--network", "private", "--json");
    expect(r.stderr, logs()).toBe("");
    const addr = JSON.parse(r.stdout).ports[0].address;
    const others = json<{ name: string; ports: { address: string }[] }[]>(hosts[0], "list")
      .filter((i) => i.name !== "after-wipe")
      .map((i) => i.ports[0].address);
    expect(others).not.toContain(addr);
  }, 90_000);

  test("traffic with a wrong key is rejected and counted", async () => {
    const intruderDir = join(root, "hx");
    const x: Host = {
      name: "hx",
      ns: hosts[2].ns,
      ip: hosts[2].ip,
      dir: intruderDir,
      socket: join(intruderDir, "netlet.sock"),
      proc: null,
    };
    // Reuse C's namespace with another port: a stranger with another key knocking on A.
    mkdirSync(intruderDir, { recursive: true });
    writeFileSync(
      join(intruderDir, "netlet.conf"),
      `[DEFAULT]\nhost = hx\nmy_ip = ${x.ip}\nstate_path = ${intruderDir}\nadmin_listen = 127.0.0.1:9776\nmetadata_listen_port = 8776\n[cluster]\nbind = ${x.ip}:7947\njoin = ${hosts[0].ip}:7946\n`,
    );
    writeFileSync(join(intruderDir, "cluster.keys"), `${keygen()}\n`);
    x.proc = lab.spawn(
      x.ns,
      [netletBinary(), "agent", "--config", join(intruderDir, "netlet.conf"), "--socket", x.socket],
      { stdout: "ignore" },
    );
    const metric = () => {
      const m = nsRun(hosts[0].ns, ["curl", "-s", "127.0.0.1:9775/metrics"], { check: false }).stdout;
      return Number(/netlet_cluster_packets_rejected_total\{reason="unknown-key"\} (\d+)/.exec(m)?.[1] ?? 0);
    };
    expect(await waitFor(() => metric() > 0, 20000, 200)).toBe(true);
    expect(Object.keys(states(hosts[0]))).not.toContain("hx");
    await stopProcess(x.proc);
  }, 40_000);
});
