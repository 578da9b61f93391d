import { describe, expect, test } from "bun:test";
import { PacketCrypto } from "../../src/cluster/crypto.ts";
import { Keyring, decodeKey, keygen } from "../../src/cluster/keyring.ts";
import { bootEpoch, loadMarks, saveMarks } from "../../src/cluster/replay-marks.ts";
import { memStore } from "../store/fixtures.ts";

const K1 = keygen();
const K2 = keygen();
const text = (b: Buffer) => b.toString();

function pair(ka = K1, kb = K1, nameA = "prod", nameB = "prod") {
  const a = new PacketCrypto(new Keyring(ka), nameA, "host-a", 1, 1_000);
  const b = new PacketCrypto(new Keyring(kb), nameB, "host-b", 1, 2_000);
  return { a, b };
}

describe("packet crypto", () => {
  test("round trip carries sender and generation; header adds a bounded overhead", () => {
    const { a, b } = pair();
    const pkt = a.seal(Buffer.from("hello"), 0);
    expect(pkt.length).toBe(5 + 19 + "host-a".length + 16);
    const r = b.open(pkt, 0);
    expect(r.ok && text(r.plain)).toBe("hello");
    expect(r.ok && r.sender).toBe("host-a");
    expect(r.ok && r.generation).toBe(1);
  });

  test("nonces are counters: two seals of the same text differ, no nonce repeats", () => {
    const { a } = pair();
    const x = a.seal(Buffer.from("same"), 0);
    const y = a.seal(Buffer.from("same"), 0);
    expect(x.equals(y)).toBe(false);
    expect(x.readUInt32BE(x.length - 16 - 4 - 4)).toBe(0);
    expect(y.readUInt32BE(y.length - 16 - 4 - 4)).toBe(1);
  });

  test("wrong key is rejected and counted", () => {
    const { a, b } = pair(K1, K2);
    expect(b.open(a.seal(Buffer.from("x"), 0), 0)).toEqual({ ok: false, error: "unknown-key" });
    expect(b.rejected["unknown-key"]).toBe(1);
  });

  test("a different cluster name (associated data) fails authentication", () => {
    const { a, b } = pair(K1, K1, "prod", "staging");
    expect(b.open(a.seal(Buffer.from("x"), 0), 0)).toEqual({ ok: false, error: "auth" });
    expect(b.rejected.auth).toBe(1);
  });

  test("tampering with header, body or tag is rejected", () => {
    const { a, b } = pair();
    const pkt = a.seal(Buffer.from("payload!"), 0);
    for (const i of [3, 12, pkt.length - 20, pkt.length - 1]) {
      const t = Buffer.from(pkt);
      t[i] ^= 0x01;
      expect(b.open(t, 0).ok).toBe(false);
    }
    expect(b.rejected.auth).toBe(4);
    expect(b.open(pkt, 0).ok).toBe(true);
  });

  test("replays are rejected; reordering inside the window is accepted", () => {
    const { a, b } = pair();
    const pkts = Array.from({ length: 10 }, (_, i) => a.seal(Buffer.from(`m${i}`), 0));
    expect(b.open(pkts[5], 0).ok).toBe(true);
    expect(b.open(pkts[2], 0).ok).toBe(true);
    expect(b.open(pkts[9], 0).ok).toBe(true);
    expect(b.open(pkts[5], 0)).toEqual({ ok: false, error: "replay" });
    expect(b.open(pkts[2], 0)).toEqual({ ok: false, error: "replay" });
    expect(b.rejected.replay).toBe(2);
    // Far behind the window: refused even if never seen.
    for (let i = 0; i < 1100; i++) b.open(a.seal(Buffer.from("z"), 0), 0);
    expect(b.open(pkts[0], 0)).toEqual({ ok: false, error: "replay" });
  });

  test("a restarted sender (later epoch) is accepted, its old packets are not", () => {
    const { a, b } = pair();
    const old = a.seal(Buffer.from("old"), 0);
    const a2 = new PacketCrypto(new Keyring(K1), "prod", "host-a", 1, 5_000);
    expect(b.open(a2.seal(Buffer.from("new"), 0), 0).ok).toBe(true);
    expect(b.open(old, 0)).toEqual({ ok: false, error: "replay" });
    const oldGen = new PacketCrypto(new Keyring(K1), "prod", "host-a", 0, 9_000);
    expect(b.open(oldGen.seal(Buffer.from("x"), 0), 0)).toEqual({ ok: false, error: "stale-generation" });
  });

  test("a restarted receiver keeps refusing datagrams captured before the restart (marks saved in the store)", () => {
    const { a, b } = pair();
    const captured = Array.from({ length: 41 }, (_, i) => a.seal(Buffer.from(`m${i}`), 0));
    for (const p of captured) expect(b.open(p, 0).ok).toBe(true);
    const store = memStore("host-b");
    saveMarks(store, b);
    // The receiver restarts: a new PacketCrypto, its windows restored from the store.
    const restarted = new PacketCrypto(new Keyring(K1), "prod", "host-b", 1, bootEpoch(store, 3_000));
    restarted.restoreMarks(loadMarks(store));
    expect(captured.map((p) => restarted.open(p, 0)).filter((r) => r.ok)).toHaveLength(0);
    // What the sender sends next is accepted, as are packets of a restarted sender.
    expect(restarted.open(a.seal(Buffer.from("next"), 0), 0).ok).toBe(true);
    const a2 = new PacketCrypto(new Keyring(K1), "prod", "host-a", 1, 5_000);
    expect(restarted.open(a2.seal(Buffer.from("reborn"), 0), 0).ok).toBe(true);
    // Without the saved marks, every captured datagram would be accepted again.
    const forgetful = new PacketCrypto(new Keyring(K1), "prod", "host-b", 1, 3_000);
    expect(captured.map((p) => forgetful.open(p, 0)).filter((r) => r.ok)).toHaveLength(41);
  });

  test("a restarted host's nonce epoch never goes below one it used before, whatever the clock says", () => {
    const store = memStore("host-a");
    expect(bootEpoch(store, 10_000)).toBe(10_000);
    expect(bootEpoch(store, 5_000)).toBe(10_001); // the clock went back
    expect(bootEpoch(store, 20_000)).toBe(20_000);
  });

  test("short, oversize and bad-version packets are counted, never thrown", () => {
    const { b } = pair();
    expect(b.open(new Uint8Array(3), 0)).toEqual({ ok: false, error: "short" });
    expect(b.open(new Uint8Array(5000), 0)).toEqual({ ok: false, error: "oversize" });
    expect(b.open(new Uint8Array(100).fill(7), 0)).toEqual({ ok: false, error: "version" });
    expect(() => pair().a.seal(new Uint8Array(2000), 0)).toThrow(RangeError);
  });
});

describe("keyring", () => {
  test("keygen gives 32 random bytes in base64; bad keys are refused", () => {
    expect(decodeKey(keygen()).length).toBe(32);
    expect(keygen()).not.toBe(keygen());
    expect(() => new Keyring("c2hvcnQ=")).toThrow(TypeError);
  });

  test("install, use, remove, list", () => {
    const r = new Keyring(K1, 1000);
    r.install(K2);
    expect(r.list().map((k) => k.primary)).toEqual([true, false]);
    expect(() => r.remove(K1, 0)).toThrow(RangeError);
    r.use(K2);
    r.remove(K1, 0);
    expect(r.list().find((k) => k.key === K1)?.retireAt).toBe(1000);
    expect(() => r.use(K1)).toThrow(RangeError);
    r.expire(1000);
    expect(r.list().map((k) => k.key)).toEqual([K2]);
    expect(Keyring.fromJSON(JSON.parse(JSON.stringify(r.toJSON()))).list()).toEqual(r.list());
  });

  test("a node offline during rotation is still understood within the grace window", () => {
    const rotated = new Keyring(K1, 60_000);
    rotated.install(K2);
    rotated.use(K2);
    rotated.remove(K1, 0);
    const cluster = new PacketCrypto(rotated, "prod", "host-b", 1, 1);
    const stale = new PacketCrypto(new Keyring(K1), "prod", "host-a", 1, 1);
    const hello = stale.seal(Buffer.from("back"), 10);
    expect(cluster.open(hello, 10).ok).toBe(true);
    // The cluster answers on the old key so the returning node can read the new keyring.
    const reply = cluster.seal(
      Buffer.from("keys"),
      10,
      (cluster.open(stale.seal(Buffer.from("2"), 10), 10) as { keyId: number }).keyId,
    );
    expect(stale.open(reply, 10).ok).toBe(true);
    // After the grace window the old key is gone.
    expect(cluster.open(stale.seal(Buffer.from("late"), 70_000), 70_000)).toEqual({ ok: false, error: "unknown-key" });
  });
});
