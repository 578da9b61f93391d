import { describe, expect, test } from "bun:test";
import { blockAddresses, splitBlocks } from "../../src/cluster/ipam/blocks.ts";
import { reservedOf } from "../../src/net/network-plan.ts";
import { ip4ToNum } from "../../src/net/ip.ts";
import { findDuplicates } from "../../src/cluster/ipam/duplicates.ts";
import { MemoryPromiseStore, decideVote } from "../../src/cluster/ipam/promises.ts";
import { Agreement, votersFingerprint } from "../../src/cluster/ipam/agreement.ts";
import { Inheritance, servePromises } from "../../src/cluster/ipam/inherit.ts";
import { SimCluster } from "../../src/cluster/sim/cluster.ts";
import { ipv4NetworkData } from "../fixtures/network.ts";

const NET = ipv4NetworkData("net1", "10.1.0.0/25");

function cluster(n: number, seed: number, loss = 0) {
  const c = new SimCluster({ n, seed, loss, ipam: { warmupMs: 5000 } });
  c.write(0, { table: "network", key: NET.id, deleted: false, data: NET });
  c.sim.run(12_000);
  return c;
}

type Alloc = { ok: true; address: string } | { ok: false; error: string };
function allocate(c: SimCluster, i: number, owner: string): Alloc {
  let r: Alloc = { ok: false, error: "node not running" };
  const m = c.members[i];
  c.sim.poke(m.node.addr, () => m.node.act(c.sim.now, () => (r = m.ipam!.allocate(NET.id, owner, c.sim.now))));
  return r;
}

/** Ground truth: every address any node believes it handed out, straight from its own store. */
function duplicatesNow(c: SimCluster): string[] {
  const seen = new Map<string, string>();
  const dups: string[] = [];
  for (const m of c.members) {
    if (!c.sim.isAlive(m.node.addr)) continue;
    for (const a of m.ipam!.allocations(NET.id)) {
      const other = seen.get(a.address);
      if (other && other !== m.node.id) dups.push(`${a.address} ${other} ${m.node.id}`);
      seen.set(a.address, m.node.id);
    }
  }
  return dups;
}

describe("ipam pure parts", () => {
  test("ranges split into /28 blocks; reserved addresses", () => {
    const b = splitBlocks("10.1.0.0/24");
    expect(b.length).toBe(16);
    expect(b[1]).toBe("10.1.0.16/28");
    expect(splitBlocks("10.1.0.0/24", 26)).toEqual(["10.1.0.0/26", "10.1.0.64/26", "10.1.0.128/26", "10.1.0.192/26"]);
    expect(blockAddresses("10.1.0.16/28")).toHaveLength(16);
    expect(blockAddresses("10.1.0.16/28")[15]).toBe("10.1.0.31");
    // Blocks hand out only what nova's reservation rule leaves free (network-create's rule).
    const r = reservedOf({
      fixedCidr: "10.1.0.0/24",
      gateway: "10.1.0.1",
      dhcpServer: "10.1.0.1",
      vpnPrivateAddress: null,
      allowedStart: null,
      allowedEnd: "10.1.0.200",
    });
    expect(
      ["10.1.0.0", "10.1.0.1", "10.1.0.2", "10.1.0.200", "10.1.0.201", "10.1.0.255"].map((a) => r(ip4ToNum(a))),
    ).toEqual([true, true, false, false, true, true]);
    expect(() => splitBlocks("fd00::/64")).toThrow(RangeError);
  });

  test("a voter grants each (slot, epoch) once; a new epoch only after release or forget", () => {
    const never = () => false;
    expect(decideVote(undefined, undefined, "a", 1, never).grant).toBe(true);
    const held = { owner: "a", epoch: 1, released: false };
    expect(decideVote(held, undefined, "a", 1, never).grant).toBe(true);
    expect(decideVote(held, undefined, "b", 1, never).grant).toBe(false);
    expect(decideVote(held, undefined, "b", 2, never).grant).toBe(false);
    expect(decideVote({ ...held, released: true }, undefined, "b", 2, never).grant).toBe(true);
    expect(decideVote({ ...held, released: true }, undefined, "b", 1, never).grant).toBe(false);
    expect(decideVote(held, undefined, "b", 2, (h) => h === "a").grant).toBe(true);
    // Replicated state counts too: a voter with no promise still refuses a held slot.
    expect(decideVote(undefined, held, "b", 1, never).grant).toBe(false);
    const p = new MemoryPromiseStore();
    expect(p.empty()).toBe(true);
  });

  test("a claim asks silent voters again, and a failed one releases at every voter", () => {
    type Msg = Parameters<Agreement["handle"]>[1];
    const sent: { to: string; m: Msg }[] = [];
    const voters = ["a", "b", "c"];
    const view = { voters: () => voters, record: () => undefined, forgotten: () => false, mayVote: () => true };
    const a = new Agreement(
      { self: "a", isReachable: () => true, send: (to, m) => sent.push({ to, m }) },
      view,
      new MemoryPromiseStore(),
      1000,
    );
    const outcomes: boolean[] = [];
    a.claim("block:x", 0, (o) => outcomes.push(o.ok));
    // Both requests are lost; a fifth of the timeout later they go again.
    expect(sent.map((x) => x.to).sort()).toEqual(["b", "c"]);
    sent.length = 0;
    a.tick(199);
    expect(sent).toEqual([]);
    a.tick(200);
    expect(sent.map((x) => x.to).sort()).toEqual(["b", "c"]);
    const k = (sent[0].m as { k: number }).k;
    a.handle("b", { i: "v", k, ok: true }, 210);
    expect(outcomes).toEqual([true]);

    // A claim that times out tells every voter to release, not only those whose grant arrived.
    sent.length = 0;
    a.claim("block:y", 1000, (o) => outcomes.push(o.ok));
    a.tick(2000);
    expect(outcomes).toEqual([true, false]);
    const releases = sent
      .filter((x) => x.m.i === "l")
      .map((x) => x.to)
      .sort();
    expect(releases).toEqual(["b", "c"]);
  });

  test("a voter copies unreleased promises page by page, asks again when a page is lost, and remembers it finished", () => {
    const source = new MemoryPromiseStore();
    for (let i = 0; i < 20; i++)
      source.put(`block:n:10.0.${i}.0/28`, { owner: `h${i % 3}`, epoch: 2, released: i % 5 === 0 });
    const mine = new MemoryPromiseStore();
    mine.put("block:n:10.0.1.0/28", { owner: "h1", epoch: 3, released: true });
    const asked: string[] = [];
    const inh = new Inheritance({ self: "d", send: (_id, m) => asked.push(m.a) }, mine, 500, false);
    inh.start(["a", "d"], 1, 0);
    expect(asked).toEqual([""]);
    let pages = 0;
    while (!inh.complete && pages < 10) {
      const a = asked.at(-1)!;
      const { ps, nx } = servePromises(source, a);
      if (pages === 1) {
        // This page is lost: nothing comes back until the request goes again.
        inh.tick(499);
        expect(asked.at(-1)).toBe(a);
        inh.tick(500 + pages);
        expect(asked.at(-2)).toBe(a);
      }
      inh.handle("a", a, ps, nx, pages);
      pages++;
    }
    expect(inh.complete).toBe(true);
    expect(pages).toBe(3);
    // Unreleased promises arrive; a newer one of our own (a release we saw) is kept.
    expect(mine.get("block:n:10.0.2.0/28")).toEqual({ owner: "h2", epoch: 2, released: false });
    expect(mine.get("block:n:10.0.5.0/28")).toBeUndefined();
    expect(mine.get("block:n:10.0.1.0/28")).toEqual({ owner: "h1", epoch: 3, released: true });
    expect(mine.get("inherit:d")).toBeDefined();
    expect(servePromises(mine, "").ps.some(([slot]) => slot.startsWith("inherit:"))).toBe(false);
  });

  test("a voter restarted while an admission it granted is in flight votes on nothing else until it is recorded", () => {
    const promises = new MemoryPromiseStore();
    promises.put("voter:d", { owner: "d", epoch: 1, released: false });
    const records = new Map<string, { owner: string; epoch: number; released: boolean }>();
    const view = {
      voters: () => ["a", "b", "c"],
      record: (slot: string) => records.get(slot),
      forgotten: () => false,
      mayVote: () => true,
    };
    const sent: { to: string; m: Parameters<Agreement["handle"]>[1] }[] = [];
    const a = new Agreement(
      { self: "a", isReachable: () => true, send: (to, m) => sent.push({ to, m }) },
      view,
      promises,
      1000,
    );
    const vs = votersFingerprint(["a", "b", "c"]);
    a.handle("b", { i: "c", k: 1, slot: "block:n:10.0.0.0/28", e: 1, vs }, 0);
    expect(sent.at(-1)!.m).toMatchObject({ i: "v", ok: false, why: "busy" });
    records.set("voter:d", { owner: "d", epoch: 1, released: false });
    a.handle("b", { i: "c", k: 2, slot: "block:n:10.0.0.0/28", e: 1, vs }, 1);
    expect(sent.at(-1)!.m).toMatchObject({ i: "v", ok: true });
  });

  test("duplicate detector", () => {
    const row = (host: string, address: string, deleted = false) => ({
      table: "ip_alloc" as const,
      key: `${host}/${address}`,
      origin: host,
      hlc: "",
      deleted,
      data: deleted ? null : { networkId: "n", address, host },
    });
    expect(findDuplicates([row("a", "10.0.0.2"), row("b", "10.0.0.3"), row("b", "10.0.0.2", true)])).toEqual([]);
    expect(findDuplicates([row("a", "10.0.0.2"), row("b", "10.0.0.2")])).toEqual([
      { networkId: "n", address: "10.0.0.2", hosts: ["a", "b"] },
    ]);
  });
});

describe("simulated ipam", () => {
  test("every host becomes a voter and allocates locally from its own block", () => {
    const c = cluster(5, 21);
    for (const m of c.members) expect(m.ipam!.voters()).toEqual(["n0", "n1", "n2", "n3", "n4"]);
    const got = [0, 1, 2, 3, 4].map((i) => allocate(c, i, `vif${i}`));
    // The first call may have to wait for a block; the second one after a moment never does.
    c.sim.runFor(3000);
    const again = [0, 1, 2, 3, 4].map((i) => allocate(c, i, `vif${i}b`));
    expect(again.every((r) => r.ok)).toBe(true);
    expect(got.length).toBe(5);
    expect(duplicatesNow(c)).toEqual([]);
  });

  test("a host new to the cluster (fresh state, later generation) votes and allocates within seconds", () => {
    const c = cluster(3, 27);
    c.spawn(3, 7, ["n0"]);
    const t0 = c.sim.now;
    const voter = c.sim.runUntil(() => c.members[0].ipam!.voters().includes("n3"), 8000, 100);
    expect(voter).not.toBeNull();
    expect(c.sim.runUntil(() => allocate(c, 3, "vm").ok, 8000, 250)).not.toBeNull();
    // The 5 s warm-up of a possibly rebuilt host is cut short once sync has caught up.
    expect(c.sim.now - t0).toBeLessThan(4000);
    expect(duplicatesNow(c)).toEqual([]);
  });

  test("random partitions, loss and concurrent allocation never produce a duplicate", () => {
    const c = cluster(7, 22, 0.1);
    const ids = c.members.map((m) => m.node.addr);
    let ok = 0;
    let majorityTries = 0;
    let majorityOk = 0;
    let majority = new Set(ids);
    for (let round = 0; round < 24; round++) {
      if (round % 4 === 0) {
        const shuffled = [...ids].sort(() => c.sim.random() - 0.5);
        const cut = 1 + Math.floor(c.sim.random() * 6);
        c.sim.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
        majority = new Set(cut >= 4 ? shuffled.slice(0, cut) : shuffled.slice(cut));
      }
      if (round % 4 === 3) {
        c.sim.heal();
        majority = new Set(ids);
      }
      for (let i = 0; i < 7; i++) {
        const got = allocate(c, i, `r${round}n${i}`).ok;
        if (got) ok++;
        // A majority side may need a moment for a new block; count its requests a round later.
        if (majority.has(ids[i]) && round % 4 !== 0) {
          majorityTries++;
          if (got) majorityOk++;
        }
      }
      c.sim.runFor(700);
      expect(duplicatesNow(c)).toEqual([]);
    }
    c.sim.heal();
    c.sim.runFor(10_000);
    // Safety is the point; liveness only has to hold where a majority is reachable.
    expect(ok).toBeGreaterThan(0);
    expect(majorityOk / majorityTries).toBeGreaterThan(0.6);
    expect(duplicatesNow(c)).toEqual([]);
    for (const m of c.members) {
      expect(m.ipam!.checkDuplicates()).toEqual([]);
      expect(m.ipam!.stats.duplicateAlarms).toBe(0);
    }
  });

  test("a minority partition allocates from its blocks, then fails cleanly; the majority goes on", () => {
    const c = cluster(5, 23);
    for (let i = 0; i < 5; i++) allocate(c, i, `warm${i}`);
    c.sim.runFor(3000);
    c.sim.partition([
      ["n0", "n1", "n2"],
      ["n3", "n4"],
    ]);
    c.sim.runFor(15_000);
    const minority: Alloc[] = [];
    for (let k = 0; k < 20; k++) {
      minority.push(allocate(c, 3, `m${k}`));
      c.sim.runFor(300);
    }
    const firstFail = minority.findIndex((r) => !r.ok);
    expect(firstFail).toBeGreaterThan(5);
    expect(minority.slice(firstFail).every((r) => !r.ok)).toBe(true);
    expect((minority[firstFail] as { error: string }).error).toMatch(/majority/);
    const majority: Alloc[] = [];
    for (let k = 0; k < 20; k++) {
      majority.push(allocate(c, 0, `M${k}`));
      c.sim.runFor(300);
    }
    expect(majority.every((r) => r.ok)).toBe(true);
    expect(c.members[0].ipam!.ownedBlocks(NET.id).length).toBeGreaterThan(1);
    c.sim.heal();
    expect(c.sim.runUntil(() => c.storesAgree(), 20_000)).not.toBeNull();
    expect(duplicatesNow(c)).toEqual([]);
    expect(c.members[0].ipam!.checkDuplicates()).toEqual([]);
  });

  test("a floating IP has one server; transfer needs the holder's release and a majority", () => {
    const c = cluster(5, 24);
    const serving = () => c.members.filter((m) => m.ipam!.serving().includes("192.0.2.10")).map((m) => m.node.id);
    const serve = (i: number) => {
      let r: unknown;
      c.sim.poke(`n${i}`, () =>
        c.members[i].node.act(c.sim.now, () => (r = c.members[i].ipam!.serveFloating("192.0.2.10", c.sim.now))),
      );
      return r;
    };
    serve(1);
    serve(2);
    c.sim.runFor(5000);
    expect(serving().length).toBe(1);
    const holder = serving()[0];
    const other = holder === "n1" ? 2 : 1;
    serve(other);
    for (let t = 0; t < 40; t++) {
      c.sim.runFor(100);
      expect(serving().length).toBeLessThanOrEqual(1);
    }
    expect(serving()).toEqual([`n${other}`]);
    // From a minority side the transfer cannot happen.
    c.sim.partition([
      ["n0", "n1", "n2"],
      ["n3", "n4"],
    ]);
    c.sim.runFor(40_000);
    expect(serve(3)).toEqual({ ok: false, error: expect.stringMatching(/unreachable/) });
    // A fresh address cannot be claimed from the minority either.
    let fresh: unknown;
    c.sim.poke("n3", () =>
      c.members[3].node.act(c.sim.now, () => (fresh = c.members[3].ipam!.serveFloating("192.0.2.99", c.sim.now))),
    );
    expect(fresh).toEqual({ ok: true, state: "pending" });
    c.sim.runFor(5000);
    expect(serving()).toEqual([`n${other}`]);
    expect(c.members[3].ipam!.serving()).toEqual([]);
    expect(c.members[3].ipam!.agreement.stats.claimsFailed).toBeGreaterThan(0);
  });

  test("forget is refused while the host is reachable; afterwards its blocks can be reclaimed", () => {
    const c = cluster(5, 25);
    allocate(c, 4, "x");
    c.sim.runFor(3000);
    expect(allocate(c, 4, "y").ok).toBe(true);
    const blocks = c.members[4].ipam!.ownedBlocks(NET.id);
    expect(blocks.length).toBe(1);
    expect(c.members[0].ipam!.forget("n4")).toEqual({ ok: false, error: expect.stringMatching(/reachable/) });
    c.sim.runFor(2000);
    c.sim.kill("n4");
    c.sim.runFor(30_000);
    let res: unknown;
    c.sim.poke("n0", () => c.members[0].node.act(c.sim.now, () => (res = c.members[0].ipam!.forget("n4"))));
    expect(res).toEqual({ ok: true });
    c.sim.runFor(5000);
    // The four remaining voters (of five, n4 forgotten) still allocate; n4's addresses stay taken.
    for (const m of c.members.slice(0, 4)) expect(m.ipam!.voters()).toEqual(["n0", "n1", "n2", "n3"]);
    const n4addrs = new Set(
      c.members[0].store
        .rows()
        .filter((r) => r.table === "ip_alloc" && r.origin === "n4" && !r.deleted)
        .map((r) => String(r.data!.address)),
    );
    expect(n4addrs.size).toBe(1);
    for (let k = 0; k < 60; k++) {
      const r = allocate(c, k % 4, `z${k}`);
      if (r.ok) expect(n4addrs.has(r.address)).toBe(false);
      c.sim.runFor(200);
    }
    // n4's block was taken over: its new owner read n4's allocations in it, not only its own.
    expect(c.members.slice(0, 4).some((m) => m.ipam!.ownedBlocks(NET.id).includes(blocks[0]))).toBe(true);
    expect(duplicatesNow(c)).toEqual([]);
  });

  test("a host restarted with a wiped state directory never reuses an address in use", () => {
    const c = cluster(5, 26);
    for (let k = 0; k < 10; k++) {
      allocate(c, 2, `before${k}`);
      c.sim.runFor(300);
    }
    const before = new Set(c.members[2].ipam!.allocations(NET.id).map((a) => a.address));
    expect(before.size).toBeGreaterThan(5);
    c.sim.kill("n2");
    c.sim.runFor(500);
    const fresh = c.spawn(2, 2, ["n0"]);
    expect(allocate(c, 2, "too-early")).toEqual({ ok: false, error: expect.stringMatching(/not ready/) });
    // Ready as soon as state sync holds what a peer holds: well inside the 5 s warm-up.
    const t0 = c.sim.now;
    expect(
      c.sim.runUntil(() => !/not ready/.test(String((allocate(c, 2, "probe") as { error?: string }).error)), 8000, 100),
    ).not.toBeNull();
    expect(c.sim.now - t0).toBeLessThan(3000);
    c.sim.runFor(8000);
    for (let k = 0; k < 20; k++) {
      const r = allocate(c, 2, `after${k}`);
      if (r.ok) expect(before.has(r.address)).toBe(false);
      c.sim.runFor(300);
    }
    expect(fresh.ipam!.allocations(NET.id).length).toBeGreaterThan(before.size);
    expect(duplicatesNow(c)).toEqual([]);
  });
});
