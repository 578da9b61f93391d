/**
 * A cluster-only agent for namespace tests: the real UDP shell, crypto, sync and IPAM with
 * in-memory stores, driven by JSON lines on stdin and answering on stdout. Configuration comes
 * from the environment (NL_ID, NL_BIND, NL_PORT, NL_KEY, NL_SEEDS, NL_BOOTSTRAP, NL_CLUSTER).
 */
import { PacketCrypto } from "../../src/cluster/crypto.ts";
import { Ipam } from "../../src/cluster/ipam/ipam.ts";
import { MemoryPromiseStore } from "../../src/cluster/ipam/promises.ts";
import { Keyring } from "../../src/cluster/keyring.ts";
import { ClusterNode } from "../../src/cluster/node.ts";
import { ClusterShell } from "../../src/cluster/shell.ts";
import { MemoryReplicaStore } from "../../src/cluster/sync/replica-store.ts";
import { HlcClock } from "../../src/replication/hlc.ts";
import { ipv4NetworkData } from "../fixtures/network.ts";

const env = process.env;
const id = env.NL_ID!;
const store = new MemoryReplicaStore();
const clock = new HlcClock();
let ipam!: Ipam;
const shell = await ClusterShell.start({
  host: env.NL_BIND!,
  port: Number(env.NL_PORT),
  crypto: new PacketCrypto(new Keyring(env.NL_KEY!), env.NL_CLUSTER ?? "nstest", id, 1, Date.now()),
  makeNode: (addr) => {
    const node = new ClusterNode({
      id,
      addr,
      generation: 1,
      incarnation: 0,
      now: Date.now(),
      random: Math.random,
      clock,
      store,
      swim: { probeIntervalMs: 500, probeTimeoutMs: 200, gossipIntervalMs: 100, lagThresholdMs: 1000 },
      sync: { digestIntervalMs: 300 },
    });
    ipam = new Ipam({
      self: id,
      generation: 1,
      now: Date.now(),
      random: Math.random,
      peers: node.swim,
      store,
      write: (r) => node.write(r),
      promises: new MemoryPromiseStore(),
      bootstrap: env.NL_BOOTSTRAP === "1",
      config: { claimTimeoutMs: 1000 },
    });
    node.layers.push(ipam);
    return node;
  },
});
if (env.NL_SEEDS) shell.act((n, now) => n.swim.join(now, env.NL_SEEDS!.split(",")));

const NET = ipv4NetworkData("net1", "10.20.0.0/25");

function answer(cmd: Record<string, unknown>): unknown {
  let out: unknown = null;
  switch (cmd.c) {
    case "members":
      return shell.node.swim.members().map((m) => ({ id: m.id, state: m.state }));
    case "net":
      shell.act((n) => n.write({ table: "network", key: NET.id, deleted: false, data: NET }));
      return true;
    case "has-net":
      return store.get("network", NET.id) !== undefined;
    case "alloc":
      shell.act((_n, now) => (out = ipam.allocate(NET.id, String(cmd.owner), now)));
      return out;
    case "allocs":
      return ipam.allocations(NET.id).map((a) => a.address);
    case "dups":
      return ipam.checkDuplicates();
    case "voters":
      return ipam.voters();
    case "rejected":
      return shell.rejected(String(cmd.reason));
    default:
      return { error: "unknown command" };
  }
}

let buf = "";
for await (const chunk of Bun.stdin.stream()) {
  buf += new TextDecoder().decode(chunk);
  let i: number;
  while ((i = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    try {
      const cmd = JSON.parse(line);
      process.stdout.write(`${JSON.stringify({ q: cmd.q, r: answer(cmd) })}\n`);
    } catch (e) {
      process.stdout.write(`${JSON.stringify({ q: null, r: { error: String(e) } })}\n`);
    }
  }
}
shell.stop();
