import { afterAll, describe, expect, test } from "bun:test";
import { PacketCrypto } from "../../src/cluster/crypto.ts";
import { Keyring, keygen } from "../../src/cluster/keyring.ts";
import { KeyringLayer } from "../../src/cluster/keyring-sync.ts";
import { ClusterNode } from "../../src/cluster/node.ts";
import { ClusterShell, splitHostPort } from "../../src/cluster/shell.ts";
import { MemoryReplicaStore } from "../../src/cluster/sync/replica-store.ts";
import { waitFor } from "../harness/netns.ts";
import { HlcClock } from "../../src/replication/hlc.ts";

const KEY = keygen();
const shells: ClusterShell[] = [];
afterAll(() => {
  for (const s of shells) s.stop();
});

async function start(
  id: string,
  key = KEY,
): Promise<{ shell: ClusterShell; store: MemoryReplicaStore; keys: KeyringLayer }> {
  const store = new MemoryReplicaStore();
  const ring = new Keyring(key, 60_000);
  const crypto = new PacketCrypto(ring, "loopback-test", id, 1, Date.now());
  const keys = new KeyringLayer(ring, new HlcClock());
  const shell = await ClusterShell.start({
    host: "127.0.0.1",
    port: 0,
    crypto,
    keyring: keys,
    // Fast timers so the test takes seconds: 200 ms probes, 100 ms ack timeout.
    makeNode: (addr) =>
      new ClusterNode({
        id,
        addr,
        generation: 1,
        incarnation: 0,
        now: Date.now(),
        random: Math.random,
        clock: new HlcClock(),
        store,
        swim: {
          probeIntervalMs: 300,
          probeTimeoutMs: 150,
          gossipIntervalMs: 50,
          suspicionStallMs: 400,
          suspicionSpreadMs: 100,
          lagThresholdMs: 1000,
        },
        sync: { digestIntervalMs: 200 },
      }),
  });
  shells.push(shell);
  return { shell, store, keys };
}

const alive = (s: ClusterShell) =>
  s.node.swim
    .members()
    .filter((m) => m.state === "alive")
    .map((m) => m.id)
    .sort();

describe("UDP shell on loopback", () => {
  test("address parsing", () => {
    expect(splitHostPort("127.0.0.1:7946")).toEqual({ host: "127.0.0.1", port: 7946 });
    expect(splitHostPort("[fd00::1]:7946")).toEqual({ host: "fd00::1", port: 7946 });
    expect(splitHostPort("localhost:1")).toBeNull();
    expect(splitHostPort("127.0.0.1:0")).toBeNull();
  });

  test("three shells join, converge, replicate a write, reject a wrong key and detect a stopped one", async () => {
    const a = await start("host-a");
    const b = await start("host-b");
    const c = await start("host-c");
    b.shell.act((n, now) => n.swim.join(now, [a.shell.addr]));
    c.shell.act((n, now) => n.swim.join(now, [b.shell.addr]));
    await waitFor(() => [a, b, c].every((x) => alive(x.shell).length === 3), 5000);
    expect(alive(a.shell)).toEqual(["host-a", "host-b", "host-c"]);

    a.shell.act((n) =>
      n.write({
        table: "keypair",
        key: "k1",
        deleted: false,
        data: { name: "k1", publicKey: "ssh-ed25519 AAAA", fingerprint: "ff", type: "ssh" },
      }),
    );
    await waitFor(() => c.store.get("keypair", "k1") !== undefined, 5000);

    // A node with another key cannot talk its way in; its packets are counted as rejected.
    const intruder = await start("host-x", keygen());
    intruder.shell.act((n, now) => n.swim.join(now, [a.shell.addr]));
    await waitFor(() => a.shell.rejected("unknown-key") > 0, 5000);
    await Bun.sleep(300);
    expect(alive(a.shell)).not.toContain("host-x");
    intruder.shell.stop();

    c.shell.stop();
    await waitFor(
      () => [a, b].every((x) => x.shell.node.swim.members().find((m) => m.id === "host-c")?.state === "dead"),
      10_000,
    );
    // (With 100 ms probe timeouts a busy CI box can briefly suspect b; wait that out.)
    await waitFor(() => alive(a.shell).join() === "host-a,host-b", 5000);
    expect(alive(a.shell)).toEqual(["host-a", "host-b"]);
  }, 30_000);

  test("key rotation reaches every node; a node offline during it rejoins on the old key and switches", async () => {
    const a = await start("rot-a");
    const b = await start("rot-b");
    const c = await start("rot-c");
    b.shell.act((n, now) => n.swim.join(now, [a.shell.addr]));
    c.shell.act((n, now) => n.swim.join(now, [a.shell.addr]));
    await waitFor(() => [a, b, c].every((x) => alive(x.shell).length === 3), 5000);
    const cAddrPort = Number(c.shell.addr.split(":")[1]);
    c.shell.stop();
    const K2 = keygen();
    a.shell.act((_n, now) => {
      a.keys.install(K2);
      a.keys.use(K2);
      a.keys.remove(KEY, now);
    });
    await waitFor(() => b.keys.list().find((k) => k.primary)?.key === K2, 5000);
    expect(b.keys.list().find((k) => k.key === KEY)?.retireAt).not.toBeNull();
    // c comes back with only the old key (same id, later nonce epoch).
    const ring = new Keyring(KEY, 60_000);
    const keys = new KeyringLayer(ring, new HlcClock());
    const store = new MemoryReplicaStore();
    const c2 = await ClusterShell.start({
      host: "127.0.0.1",
      port: cAddrPort,
      crypto: new PacketCrypto(ring, "loopback-test", "rot-c", 1, Date.now() + 1),
      keyring: keys,
      makeNode: (addr) =>
        new ClusterNode({
          id: "rot-c",
          addr,
          generation: 1,
          incarnation: 5,
          now: Date.now(),
          random: Math.random,
          clock: new HlcClock(),
          store,
          swim: { probeIntervalMs: 200, probeTimeoutMs: 100, gossipIntervalMs: 50, lagThresholdMs: 1000 },
        }),
    });
    shells.push(c2);
    c2.act((n, now) => n.swim.join(now, [a.shell.addr]));
    await waitFor(() => ring.primaryId === new Keyring(K2).primaryId && alive(a.shell).includes("rot-c"), 8000);
    expect(keys.list().find((k) => k.primary)?.key).toBe(K2);
    await waitFor(() => alive(c2).length === 3, 5000);
    expect(alive(c2)).toEqual(["rot-a", "rot-b", "rot-c"]);
  }, 30_000);
});
