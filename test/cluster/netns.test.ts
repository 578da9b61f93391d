import { afterAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { keygen } from "../../src/cluster/keyring.ts";
import { Lab, nsRun, requireNetns, stopProcess, waitFor } from "../harness/netns.ts";

const lab = new Lab();
afterAll(async () => {
  await lab.cleanup();
}, 60_000);

/** One fixture agent in its own host namespace, talked to over stdin/stdout. */
class Agent {
  #q = 0;
  #buf = "";
  readonly #waiting = new Map<number, (v: unknown) => void>();
  constructor(
    readonly ns: string,
    readonly ip: string,
    readonly proc: Subprocess<"pipe", "pipe", "pipe">,
  ) {
    void this.#read();
  }
  async #read() {
    const dec = new TextDecoder();
    for await (const chunk of this.proc.stdout) {
      this.#buf += dec.decode(chunk);
      let i: number;
      while ((i = this.#buf.indexOf("\n")) >= 0) {
        const msg = JSON.parse(this.#buf.slice(0, i));
        this.#buf = this.#buf.slice(i + 1);
        this.#waiting.get(msg.q)?.(msg.r);
        this.#waiting.delete(msg.q);
      }
    }
  }
  ask<T = unknown>(cmd: Record<string, unknown>): Promise<T> {
    const q = ++this.#q;
    const p = new Promise<T>((res) => this.#waiting.set(q, res as (v: unknown) => void));
    this.proc.stdin.write(`${JSON.stringify({ ...cmd, q })}\n`);
    this.proc.stdin.flush();
    return Promise.race([
      p,
      Bun.sleep(5000).then(() => Promise.reject(new Error(`no answer to ${JSON.stringify(cmd)}`))),
    ]);
  }
  async alive(): Promise<string[]> {
    const ms = await this.ask<{ id: string; state: string }[]>({ c: "members" });
    return ms
      .filter((m) => m.state === "alive")
      .map((m) => m.id)
      .sort();
  }
}

const PORT = 7946;

describe.skipIf(!requireNetns())("cluster across namespaces (real UDP, encrypted)", () => {
  const key = keygen();
  let under = "";
  const uplinks = new Map<string, string>();

  function host(name: string, ip: string, seeds: string[], opts: { bootstrap?: boolean; key?: string } = {}): Agent {
    const ns = lab.addNamespace("nlch");
    const [hostIf, underIf] = lab.link(ns, under, { addrA: `${ip}/24` });
    nsRun(under, ["ip", "link", "set", underIf, "master", "br0"]);
    uplinks.set(name, underIf);
    const proc = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, `${import.meta.dir}/fixture-agent.ts`], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      env: {
        ...process.env,
        NL_ID: name,
        NL_BIND: ip,
        NL_PORT: String(PORT),
        NL_KEY: opts.key ?? key,
        NL_SEEDS: seeds.map((s) => `${s}:${PORT}`).join(","),
        NL_BOOTSTRAP: opts.bootstrap ? "1" : "0",
      },
    });
    lab.procs.push(proc);
    void hostIf;
    return new Agent(ns, ip, proc);
  }

  test("join, replicate, unique allocation, wrong key, partition with a failing minority, heal, detect a kill", async () => {
    under = lab.addNamespace("nlcu");
    lab.addBridge(under, "br0");
    const a = host("host-a", "192.168.77.1", [], { bootstrap: true });
    const b = host("host-b", "192.168.77.2", ["192.168.77.1"]);
    const c = host("host-c", "192.168.77.3", ["192.168.77.1"]);
    const all = [a, b, c];
    expect(
      await waitFor(async () => (await Promise.all(all.map((x) => x.alive()))).every((m) => m.length === 3), 15_000),
    ).toBe(true);
    expect(
      await waitFor(
        async () => (await Promise.all(all.map((x) => x.ask<string[]>({ c: "voters" })))).every((v) => v.length === 3),
        15_000,
      ),
    ).toBe(true);

    // A network created on A is usable on B and C within 5 s.
    await a.ask({ c: "net" });
    const t0 = Date.now();
    expect(
      await waitFor(
        async () => (await Promise.all([b, c].map((x) => x.ask<boolean>({ c: "has-net" })))).every(Boolean),
        5000,
      ),
    ).toBe(true);
    expect(Date.now() - t0).toBeLessThan(5000);

    // Concurrent allocation on all three hosts gives distinct addresses.
    for (let round = 0; round < 8; round++) {
      await Promise.all(all.map((x, i) => x.ask({ c: "alloc", owner: `vm-${round}-${i}` })));
      await Bun.sleep(250);
    }
    const before = (await Promise.all(all.map((x) => x.ask<string[]>({ c: "allocs" })))).flat();
    expect(before.length).toBeGreaterThan(12);
    expect(new Set(before).size).toBe(before.length);

    // Traffic under a wrong key is rejected and counted, and that node never becomes a member.
    const x = host("host-x", "192.168.77.9", ["192.168.77.1"], { key: keygen() });
    expect(await waitFor(async () => (await a.ask<number>({ c: "rejected", reason: "unknown-key" })) > 0, 5000)).toBe(
      true,
    );
    expect(await a.alive()).not.toContain("host-x");
    await stopProcess(x.proc);

    // Partition C away by cutting its underlay port.
    nsRun(under, ["ip", "link", "set", uplinks.get("host-c")!, "down"]);
    expect(
      await waitFor(async () => !(await a.alive()).includes("host-c") && !(await b.alive()).includes("host-c"), 15_000),
    ).toBe(true);
    const majority: { ok: boolean }[] = [];
    for (let k = 0; k < 24; k++)
      majority.push(await a.ask({ c: "alloc", owner: `maj-${k}` }), await Bun.sleep(100).then(() => ({ ok: true })));
    expect(majority.every((r) => r.ok)).toBe(true);
    const minority: { ok: boolean; error?: string }[] = [];
    for (let k = 0; k < 30; k++) minority.push(await c.ask({ c: "alloc", owner: `min-${k}` }));
    const firstFail = minority.findIndex((r) => !r.ok);
    expect(firstFail).toBeGreaterThanOrEqual(0);
    expect(minority.slice(firstFail).every((r) => !r.ok)).toBe(true);
    expect(minority[firstFail].error).toMatch(/majority/);

    // Heal: everyone sees everyone, allocations converge, no duplicate anywhere.
    nsRun(under, ["ip", "link", "set", uplinks.get("host-c")!, "up"]);
    expect(
      await waitFor(async () => (await Promise.all(all.map((y) => y.alive()))).every((m) => m.length === 3), 30_000),
    ).toBe(true);
    await Bun.sleep(3000);
    const after = (await Promise.all(all.map((y) => y.ask<string[]>({ c: "allocs" })))).flat();
    expect(new Set(after).size).toBe(after.length);
    for (const y of all) expect(await y.ask({ c: "dups" })).toEqual([]);

    // Killing C's agent is noticed by A and B within 10 s.
    c.proc.kill("SIGKILL");
    const t1 = Date.now();
    expect(
      await waitFor(async () => !(await a.alive()).includes("host-c") && !(await b.alive()).includes("host-c"), 10_000),
    ).toBe(true);
    expect(Date.now() - t1).toBeLessThan(10_000);
  }, 120_000);
});
