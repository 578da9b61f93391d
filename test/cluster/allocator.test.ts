import { describe, expect, test } from "bun:test";
import { DomainError } from "../../src/util/errors.ts";
import { NET, setup } from "./sim-allocator.ts";

const private4 = { id: NET.id, name: NET.label, cidr: NET.cidr, hostAddress: false };

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
    const s = setup(5, 43, 4, { timeoutMs: 6000 });
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
