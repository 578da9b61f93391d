import { describe, expect, test } from "bun:test";
import { ClusterAllocator } from "../../src/cluster/ipam/allocator.ts";
import { SimCluster } from "../../src/cluster/sim/cluster.ts";
import { createLogger } from "../../src/log.ts";
import { DomainError } from "../../src/util/errors.ts";

const NET = {
  id: "net1",
  label: "private",
  cidr: "10.1.0.0/25",
  cidrV6: null,
  fixedCidr: null,
  netmask: "255.255.255.128",
  broadcast: "10.1.0.127",
  gateway: "10.1.0.1",
  gatewayV6: null,
  dhcpServer: "10.1.0.1",
  dhcpStart: null,
  bridge: "br100",
  bridgeInterface: null,
  vlan: null,
  vxlan: null,
  dns1: null,
  dns2: null,
  mtu: null,
  multiHost: true,
  projectId: null,
  enableDhcp: true,
  shareAddress: false,
  allowedStart: null,
  allowedEnd: null,
  vpnPrivateAddress: null,
  priority: null,
  createdAt: 0,
};
const private4 = { id: NET.id, name: NET.label, cidr: NET.cidr, hostAddress: false };

/** A settled cluster of `n` hosts (voters admitted), and an allocator on host `i` over fake time. */
function setup(n: number, seed: number, i: number, timeoutMs = 15_000) {
  const c = new SimCluster({ n, seed, ipam: { warmupMs: 5000 } });
  c.write(0, { table: "network", key: NET.id, deleted: false, data: NET });
  c.sim.run(12_000);
  const m = c.members[i];
  const timers: { at: number; fn: () => void }[] = [];
  const lines: string[] = [];
  let attempts = 0;
  const hostAddresses = new Map<string, string>();
  const allocator = new ClusterAllocator({
    ipam: m.ipam!,
    self: m.node.id,
    act: (fn) => {
      let r!: ReturnType<typeof fn>;
      c.sim.poke(m.node.addr, () => m.node.act(c.sim.now, () => (r = fn(c.sim.now))));
      return r;
    },
    hostAddress: {
      find: (net) => hostAddresses.get(net) ?? null,
      claim: (net, a) => void hostAddresses.set(net, a),
    },
    log: createLogger({ write: (l) => lines.push(l) }),
    timeoutMs,
    now: () => c.sim.now,
    timer: (fn, ms) => {
      const t = { at: c.sim.now + ms, fn };
      timers.push(t);
      return () => timers.splice(timers.indexOf(t) >>> 0, 1);
    },
  });
  // Count the IPAM allocations the allocator makes (each attempt is one).
  const allocate = m.ipam!.allocate.bind(m.ipam!);
  m.ipam!.allocate = (...a) => {
    attempts++;
    return allocate(...a);
  };
  /** Let virtual time pass: the cluster runs, due timers fire, promise continuations run. */
  const advance = async (ms: number) => {
    const end = c.sim.now + ms;
    while (c.sim.now < end) {
      c.sim.runFor(Math.min(100, end - c.sim.now));
      for (const t of timers.filter((x) => x.at <= c.sim.now)) t.fn();
      await new Promise((r) => setImmediate(r));
    }
  };
  return { c, m, allocator, advance, timers, lines, hostAddresses, attempts: () => attempts };
}

describe("the cluster's Allocator", () => {
  test("an allocation that needs a new block resolves on the claim's outcome, with no polling", async () => {
    const s = setup(3, 41, 1);
    expect(s.m.ipam!.ownedBlocks(NET.id)).toEqual([]);
    let done: string | undefined;
    const p = s.allocator.allocate({ networks: [private4], requested: [], owner: "instance:vm1" }).then((a) => {
      done = a.addresses[0];
      return a;
    });
    await new Promise((r) => setImmediate(r));
    // The first attempt found no block and started a claim; nothing else happens until it ends.
    expect([done, s.attempts(), s.timers.length]).toEqual([undefined, 1, 1]);
    await s.advance(1000);
    const a = await p;
    expect(a.addresses[0]).toMatch(/^10\.1\.0\.\d+$/);
    // One attempt before the claim's outcome, one after: the waiting attempts no address.
    expect(s.attempts()).toBe(2);
    expect(s.timers).toEqual([]);
    expect(s.m.ipam!.allocations(NET.id).map((x) => x.owner)).toEqual(["instance:vm1"]);
    expect(s.lines.some((l) => /allocation waiting/.test(l) && /claim in progress/.test(l))).toBe(true);
    // A refused write gives the address back.
    a.abort();
    expect(s.m.ipam!.allocations(NET.id)).toEqual([]);
  });

  test("the host's own address on a multi_host network comes first and stays when the boot is refused", async () => {
    const s = setup(3, 42, 2);
    const p = s.allocator.allocate({
      networks: [
        { ...private4, hostAddress: true },
        { id: "none", name: "flat", cidr: null, hostAddress: true },
      ],
      requested: [],
      owner: "instance:vm2",
    });
    await s.advance(3000);
    const a = await p;
    expect(a.addresses[1]).toBeUndefined();
    const host = s.hostAddresses.get(NET.id);
    expect(host).toMatch(/^10\.1\.0\.\d+$/);
    expect(host).not.toBe(a.addresses[0]);
    a.abort();
    expect(s.m.ipam!.allocations(NET.id).map((x) => [x.address, x.owner])).toEqual([[host as string, "host:n2"]]);
  });

  test("a minority host refuses once its time is up, with the IPAM's reason, and took nothing", async () => {
    const s = setup(5, 43, 4, 6000);
    s.c.sim.partition([
      ["n0", "n1", "n2"],
      ["n3", "n4"],
    ]);
    await s.advance(8000);
    const failed = s.allocator.allocate({ networks: [private4], requested: [], owner: "instance:vm3" }).then(
      () => null,
      (e: unknown) => e,
    );
    await s.advance(7000);
    const err = await failed;
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).kind).toBe("conflict");
    expect((err as DomainError).field).toBe("network");
    expect((err as DomainError).message).toMatch(/^no address for this host on network private: .*majority/);
    // It looked again on the IPAM's reports (claim outcomes, admit rounds), not every few ms.
    expect(s.attempts()).toBeLessThan(20);
    expect(s.m.ipam!.allocations(NET.id)).toEqual([]);
  });

  test("--fixed-ip cannot be honoured in a cluster", async () => {
    const s = setup(3, 44, 1);
    const err = await s.allocator
      .allocate({ networks: [private4], requested: ["10.1.0.9"], owner: "instance:vm4" })
      .catch((e: unknown) => e);
    expect((err as DomainError).kind).toBe("invalid");
    expect((err as DomainError).message).toBe(
      "--fixed-ip cannot be honoured in a cluster: addresses come from this host's blocks",
    );
    expect(s.attempts()).toBe(0);
  });
});
