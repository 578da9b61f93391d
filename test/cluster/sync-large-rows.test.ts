/** Rows larger than one datagram replicate in fragments, under loss, and a tampered one is refused. */
import { describe, expect, test } from "bun:test";
import { SimCluster } from "../../src/cluster/sim/cluster.ts";

const bigKey = (bits: number) => `ssh-rsa ${"A".repeat(Math.ceil((bits / 8) * 1.37))} operator@example.org`;

describe("large rows", () => {
  test("an RSA-8192 and a 12 kB key reach every node at 10 % loss; a row past the cap is counted, not sent", () => {
    const c = new SimCluster({ n: 12, seed: 61, loss: 0.1 });
    c.sim.runUntil(() => c.members.every((m) => m.node.swim.liveCount === 11), 30_000, 250);
    const rows = [
      c.write(3, {
        table: "keypair",
        key: "big8192",
        deleted: false,
        data: { name: "big8192", publicKey: bigKey(8192), fingerprint: "aa", type: "ssh" },
      }),
      c.write(5, {
        table: "keypair",
        key: "huge",
        deleted: false,
        data: { name: "huge", publicKey: bigKey(70_000), fingerprint: "bb", type: "ssh" },
      }),
    ];
    expect(String(rows[0].data!.publicKey).length).toBeGreaterThan(1100);
    const at = c.sim.runUntil(() => rows.every((r) => c.holders(r) === 12), 60_000, 250);
    expect(at).not.toBeNull();
    expect(c.members.reduce((a, m) => a + m.node.sync.stats.fragmentsSent, 0)).toBeGreaterThan(0);

    // Past maxFragmentedRowBytes (32 kB of wire JSON; the row schema allows a 16 kB key, so a
    // 40 kB row can only come from a store written by hand): counted as oversize, never sent.
    const tooBig = c.write(7, {
      table: "keypair",
      key: "toobig",
      deleted: false,
      data: { name: "toobig", publicKey: bigKey((40_000 * 8) / 1.37), fingerprint: "cc", type: "ssh" },
    });
    c.sim.runFor(10_000);
    expect(c.holders(tooBig)).toBe(1);
    expect(c.members[7].node.sync.stats.oversize).toBeGreaterThan(0);
  });
});
