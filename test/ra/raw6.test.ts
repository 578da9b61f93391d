import { describe, expect, test } from "bun:test";
import { errnoName, ifIndex, openDoorbell, RawIcmp6Socket } from "../../src/sys/raw6.ts";

const isRoot = process.getuid?.() === 0;

// Loopback only: the socket plumbing (options, sendmsg with PKTINFO, recvmsg with the hop-limit
// control message, the type filter) is exercised without touching any real link.
describe.skipIf(!isRoot)("RawIcmp6Socket on loopback", () => {
  test("passes only the filtered types and reports the hop limit of each datagram", async () => {
    const rx = RawIcmp6Socket.open("lo", { passTypes: [133], joinAllRouters: false });
    const tx = RawIcmp6Socket.open("lo", { passTypes: [], joinAllRouters: false, hopLimit: 77 });
    try {
      while (rx.receive()) {} // drain anything queued before this test
      expect(tx.send(Uint8Array.from([136, 0, 0, 0, 0, 0, 0, 0]), "::1")).toBe(0); // NA: filtered
      expect(tx.send(Uint8Array.from([133, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 9]), "::1", "::1")).toBe(0);
      let got = rx.receive();
      for (let i = 0; i < 20 && !got; i++) {
        await Bun.sleep(10);
        got = rx.receive();
      }
      expect(got).toMatchObject({ source: "::1", hopLimit: 77, truncated: false });
      const data = (got as { data: Uint8Array }).data;
      expect(data[0]).toBe(133);
      expect(data.length).toBe(16);
      expect(rx.receive()).toBeNull(); // the NA never arrived, and receive does not block
    } finally {
      rx.close();
      tx.close();
    }
  });

  test("a doorbell rings for matching datagrams only, and stops when closed", async () => {
    let rings = 0;
    const bell = openDoorbell("lo", { passTypes: [133], joinAllRouters: false }, () => rings++);
    const data = RawIcmp6Socket.open("lo", { passTypes: [133], joinAllRouters: false });
    const tx = RawIcmp6Socket.open("lo", { passTypes: [], joinAllRouters: false });
    try {
      await Bun.sleep(20);
      while (data.receive()) {}
      const base = rings;
      tx.send(Uint8Array.from([136, 0, 0, 0, 0, 0, 0, 0]), "::1"); // filtered: no ring
      tx.send(Uint8Array.from([133, 0, 0, 0, 0, 0, 0, 0]), "::1");
      for (let i = 0; i < 50 && rings === base; i++) await Bun.sleep(5);
      expect(rings).toBe(base + 1);
      // The datagram is still queued on the data socket, with its metadata.
      expect(data.receive()).toMatchObject({ source: "::1", hopLimit: 255 });
      bell.close();
      await Bun.sleep(20);
      tx.send(Uint8Array.from([133, 0, 0, 0, 0, 0, 0, 0]), "::1");
      await Bun.sleep(30);
      expect(rings).toBe(base + 1);
    } finally {
      bell.close();
      data.close();
      tx.close();
    }
  });

  test("fails with a clear error on a missing interface", () => {
    expect(ifIndex("nosuchif0")).toBe(0);
    expect(() => RawIcmp6Socket.open("nosuchif0")).toThrow("does not exist");
    expect(errnoName(19)).toBe("ENODEV (19)");
  });

  test("a closed socket neither sends nor receives", () => {
    const s = RawIcmp6Socket.open("lo", { joinAllRouters: false });
    s.close();
    expect(s.closed).toBe(true);
    expect(s.receive()).toBeNull();
    expect(s.send(new Uint8Array(8), "::1")).not.toBe(0);
  });
});
