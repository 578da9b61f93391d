/**
 * Cold join with the real parts (T8): a node with a fresh SQLite store joins one that holds
 * ROWS replicated rows from 100 origins, over the real UDP shell with AES-256-GCM on loopback.
 * Prints the time until the joiner holds every row, what it received, and the joiner's RSS
 * (its own process). Only loopback traffic.
 *
 *   bun bench/cluster/cold-join.ts                 # 50,000 rows
 *   ROWS=10000 bun bench/cluster/cold-join.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PacketCrypto } from "../../src/cluster/crypto.ts";
import { Keyring, keygen } from "../../src/cluster/keyring.ts";
import { ClusterNode } from "../../src/cluster/node.ts";
import { ClusterShell } from "../../src/cluster/shell.ts";
import type { ReplicaRow } from "../../src/replication/replica-store.ts";
import { Store } from "../../src/store/db.ts";
import { SqliteReplicaStore } from "../../src/store/replica.ts";

const ROWS = Number(process.env.ROWS ?? 50_000);
const ORIGINS = 100;
const role = process.argv[2];

function open(id: string, dir: string) {
  const store = new Store(join(dir, `${id}.db`), { nodeId: id });
  return { store, replica: new SqliteReplicaStore(store) };
}

/** The node loads its progress marks when it starts: fill the store first. */
async function shellFor(id: string, key: string, port: number, { store, replica }: ReturnType<typeof open>) {
  const shell = await ClusterShell.start({
    host: "127.0.0.1",
    port,
    crypto: new PacketCrypto(new Keyring(key), "coldjoin", id, 1, Date.now()),
    makeNode: (addr) =>
      new ClusterNode({
        id,
        addr,
        generation: 1,
        incarnation: 0,
        now: Date.now(),
        random: Math.random,
        clock: store.clock,
        store: replica,
      }),
  });
  return { store, replica, shell };
}

function count(store: Store): number {
  return store.db.query<{ n: number }, []>("SELECT count(*) AS n FROM keypairs WHERE deleted = 0").get()!.n;
}

if (role === "source") {
  const [dir, key, port] = [process.argv[3], process.argv[4], Number(process.argv[5])];
  const { store, replica } = open("source", dir);
  const base = Date.now() - 3_600_000;
  const marks: Record<string, string> = {};
  store.db.transaction(() => {
    for (let o = 0; o < ORIGINS; o++) {
      for (let k = 0; k < ROWS / ORIGINS; k++) {
        const hlc = `${String(base + k).padStart(15, "0")}.${String(o).padStart(5, "0")}`;
        const row: ReplicaRow = {
          table: "keypair",
          key: `o${o}k${k}`,
          origin: `origin-${o}`,
          hlc,
          deleted: false,
          data: {
            name: `o${o}k${k}`,
            publicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorKeyMaterial",
            fingerprint: "ab:cd:ef",
            type: "ssh",
          },
        };
        replica.apply(row);
        marks[row.origin] = hlc;
      }
    }
  })();
  replica.saveMarks(marks);
  await shellFor("source", key, port, { store, replica });
  console.log(`ready ${count(store)}`);
  await new Promise(() => {});
} else if (role === "joiner") {
  const [dir, key, port, seed] = [process.argv[3], process.argv[4], Number(process.argv[5]), process.argv[6]];
  const opened = open("joiner", dir);
  const { store } = opened;
  const { shell } = await shellFor("joiner", key, port, opened);
  const t0 = performance.now();
  let peak = 0;
  shell.act((n, now) => n.swim.join(now, [seed]));
  for (;;) {
    await Bun.sleep(50);
    peak = Math.max(peak, process.memoryUsage().rss);
    const n = count(store);
    if (n >= ROWS || performance.now() - t0 > 120_000) {
      console.log(
        JSON.stringify({
          rows: n,
          seconds: (performance.now() - t0) / 1000,
          rssMB: process.memoryUsage().rss / 1e6,
          peakRssMB: peak / 1e6,
          stats: shell.node.sync.stats,
        }),
      );
      process.exit(0);
    }
  }
} else {
  const dir = mkdtempSync(join(tmpdir(), "netlet-coldjoin-"));
  const key = keygen();
  const ports = [17_000 + Math.floor(Math.random() * 20_000)];
  ports.push(ports[0] + 1);
  const src = Bun.spawn([process.execPath, import.meta.path, "source", dir, key, String(ports[0])], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = src.stdout.getReader();
  const t0 = performance.now();
  let out = "";
  while (!out.includes("ready")) out += new TextDecoder().decode((await reader.read()).value);
  console.log(
    `source holds ${out.trim().split(" ")[1]} rows from ${ORIGINS} origins (written in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
  const joiner = Bun.spawn(
    [process.execPath, import.meta.path, "joiner", dir, key, String(ports[1]), `127.0.0.1:${ports[0]}`],
    { stdout: "pipe", stderr: "inherit" },
  );
  const r = JSON.parse(await new Response(joiner.stdout).text());
  src.kill();
  rmSync(dir, { recursive: true, force: true });
  console.log(
    `cold join, real UDP + AES-GCM + SQLite on loopback: ${r.rows}/${ROWS} rows in ${r.seconds.toFixed(2)} s; joiner RSS ${r.rssMB.toFixed(0)} MB (peak ${r.peakRssMB.toFixed(0)} MB); pages received ${r.stats.pageRows} rows, applied ${r.stats.applied}   | target < 10 s, RSS < 200 MB (T8)`,
  );
}
