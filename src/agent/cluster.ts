/**
 * The cluster as the agent runs it: the sans-IO ClusterNode (SWIM, state sync, IPAM, keyring
 * layer) inside its UDP shell, fed by the SQLite replica store. Local writes are published after
 * they commit; remote rows enter the store through `SqliteReplicaStore.apply` and raise the same
 * change events as local ones, so every reconciler reacts without knowing the source.
 *
 * The cluster is on when a keyring file exists (`netlet cluster keygen > $state_path/cluster.keys`):
 * gossip is encrypted-only, so without a key the node runs standalone.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/load.ts";
import type { Logger } from "../log.ts";
import type { Store } from "../store/db.ts";
import type { ChangeEvent } from "../model.ts";
import { registry } from "../metrics.ts";
import { SqlitePromiseStore, SqliteReplicaStore } from "../store/replica.ts";
import { Keyring } from "../cluster/keyring.ts";
import { KeyringLayer } from "../cluster/keyring-sync.ts";
import { PacketCrypto } from "../cluster/crypto.ts";
import { bootEpoch, loadMarks, saveMarks } from "../cluster/replay-marks.ts";
import { ClusterNode } from "../cluster/node.ts";
import { ClusterShell, splitHostPort } from "../cluster/shell.ts";
import { Ipam } from "../cluster/ipam/ipam.ts";
import type { ClusterControl } from "../cluster/control.ts";
import { ClusterAllocator } from "../ipam/cluster.ts";
import type { Allocator } from "../ipam/allocator.ts";
import { claimHostAddress, findHostAddress } from "../store/fixed-ips.ts";
import type { ReplicaTable } from "../replication/replica-store.ts";
import { type Clock, realClock } from "../util/clock.ts";
import { NameGuard } from "./name-guard.ts";

/** Entities whose rows the cluster replicates (fixed IPs travel as IPAM allocations instead). */
const REPLICATED = new Set<string>([
  "network",
  "instance",
  "vif",
  "lease",
  "host",
  "keypair",
  "security_group",
  "security_group_rule",
  "floating_ip",
]);

export interface ClusterAgent extends ClusterControl {
  /** Hosts admitted as IPAM voters (a new block needs a majority of them). */
  voters(): string[];
  /** Fixed addresses from this host's blocks (the agent's Allocator when in a cluster). */
  allocator: Allocator;
  /**
   * Floating IPs this host should serve by the store: ask for the serving slot of each, release
   * slots no longer wanted, and return the ones this host holds now.
   */
  syncFloating(wanted: string[]): string[];
  /** Underlay addresses of the live peers (VXLAN flood lists). */
  peerAddresses(): string[];
  alarms(): string[];
  stop(): Promise<void>;
}

/** How often the gossip replay marks are saved (and at stop). */
const MARKS_SAVE_MS = 2_000;

/** How long a leaving host keeps gossiping so its leave spreads before the socket closes. */
const LEAVE_SPREAD_MS = 50;

export class NodeNameConflict extends Error {}

function keyFile(config: Config): string {
  return config.cluster.keyFile ?? join(config.statePath, "cluster.keys");
}

/** A key file holds either one base64 key (as `cluster keygen` prints it) or a saved keyring. */
function loadKeyring(path: string): Keyring {
  const text = readFileSync(path, "utf8").trim();
  return text.startsWith("{") ? Keyring.fromJSON(JSON.parse(text)) : new Keyring(text);
}

/**
 * A stable generation per state directory: a rebuilt host (wiped state) gets a newer one. Whole
 * seconds, as the packet header carries it in 32 bits.
 */
function generation(store: Store): number {
  const g = store.getMeta("cluster_generation");
  if (g) return Number(g);
  const now = Math.floor(Date.now() / 1000);
  store.setMeta("cluster_generation", String(now));
  return now;
}

/**
 * An instance that moved to another host (live migration) keeps the address this host handed
 * out from its block; when the new home deletes the VIF, this host returns the address, unless
 * a live VIF still holds it.
 */
function releaseMovedAway(store: Store, ipam: Ipam, vifIds: string[]): void {
  const mine = new Set(ipam.allocations().map((a) => `${a.networkId}/${a.address}`));
  for (const id of vifIds) {
    const v = store.db
      .query<{ network_id: string; address: string | null }, [string]>(
        "SELECT network_id, address FROM vifs WHERE id = ? AND deleted = 1",
      )
      .get(id);
    if (!v?.address || !mine.has(`${v.network_id}/${v.address}`)) continue;
    const held = store.db
      .query("SELECT 1 FROM vifs WHERE network_id = ? AND address = ? AND deleted = 0")
      .get(v.network_id, v.address);
    if (!held) ipam.release(v.network_id, v.address);
  }
}

/**
 * `onMembership` runs after a member joins, dies or leaves (VXLAN flood lists and floating-IP
 * serving depend on who is alive). `clock` times the start-up name check and the leave's grace.
 */
export async function startCluster(
  store: Store,
  config: Config,
  myIp: string,
  log: Logger,
  onMembership: () => void = () => {},
  clock: Clock = realClock,
): Promise<ClusterAgent | null> {
  const l = log.child({ component: "cluster" });
  const path = keyFile(config);
  if (!existsSync(path)) {
    l.info("no cluster key file: running standalone", { key_file: path });
    return null;
  }
  const ring = loadKeyring(path);
  const bind = splitHostPort(config.cluster.bind);
  if (!bind) throw new Error(`config: bind = ${config.cluster.bind}: expected host:port`);
  const host = bind.host === "0.0.0.0" ? myIp : bind.host;
  const replica = new SqliteReplicaStore(store);
  const promises = new SqlitePromiseStore(store);
  const fresh = store.getMeta("cluster_generation") === null;
  const gen = generation(store);
  const founding = fresh && config.cluster.join.length === 0;
  const keys = new KeyringLayer(ring, store.clock, () =>
    writeFileSync(path, JSON.stringify(ring.toJSON()), { mode: 0o600 }),
  );
  const crypto = new PacketCrypto(ring, config.cluster.name, store.nodeId, gen, bootEpoch(store, Date.now()));
  // Datagrams captured before a restart stay refused after it.
  crypto.restoreMarks(loadMarks(store));
  const marksTimer = setInterval(() => saveMarks(store, crypto), MARKS_SAVE_MS);
  let ipam!: Ipam;
  const names = new NameGuard({
    id: store.nodeId,
    clock,
    log: l,
    // A host that has not joined anyone yet is the newcomer: it steps back, the cluster keeps its member.
    isNewcomer: () =>
      config.cluster.join.length > 0 &&
      !shell.node.swim.members().some((m) => m.id !== store.nodeId && m.state === "alive"),
    onRefuse: () => queueMicrotask(() => shell.stop()),
  });
  const shell: ClusterShell = await ClusterShell.start({
    host,
    port: bind.port,
    crypto,
    keyring: keys,
    metrics: registry,
    makeNode: (addr) => {
      const node = new ClusterNode({
        id: store.nodeId,
        addr,
        generation: gen,
        incarnation: Number(store.getMeta("cluster_incarnation") ?? 0),
        now: Date.now(),
        random: Math.random,
        clock: store.clock,
        store: replica,
        // A fresh state directory that joins may be a rebuilt host: pull its own rows back first.
        sync: { recoverOwnRows: fresh && !founding },
        onEvent: (e) => {
          if (e.type === "incarnation") store.setMeta("cluster_incarnation", String(e.value));
          if (e.type === "namesake") names.seen(e.addr);
          if (e.type === "member") {
            l.info(`member ${e.change}`, {
              id: e.member.id,
              addr: e.member.addr,
              state: e.member.state,
              ...(e.was ? { was: e.was } : {}),
            });
            queueMicrotask(() => names.membership());
            queueMicrotask(onMembership);
          }
        },
      });
      ipam = new Ipam({
        // A fresh state directory that founds a new cluster has no older state to wait for; any
        // other fresh one may be a rebuilt host and waits (warm-up) for the cluster's state.
        self: store.nodeId,
        generation: founding ? 1 : gen,
        now: Date.now(),
        random: Math.random,
        store: replica,
        promises,
        peers: {
          isReachable: (id) => node.swim.isReachable(id),
          addressOf: (id) => node.swim.addressOf(id),
          sendUser: (a, d) => node.swim.sendUser(a, d),
        },
        write: (row) => node.write(row),
        caughtUp: () => node.sync.caughtUp(),
        bootstrap: config.cluster.join.length === 0,
        config: { blockPrefix: config.cluster.blockPrefix },
        onDuplicate: (d) => l.error("DUPLICATE ADDRESS ALARM", { duplicates: JSON.stringify(d) }),
      });
      node.layers.push(ipam);
      return node;
    },
  });
  // Publish every committed local write of a replicated row.
  const unsubscribe = store.subscribe((events: readonly ChangeEvent[]) => {
    const gone = events.filter((e) => e.remote && e.entity === "vif" && e.op === "delete").map((e) => e.key);
    if (gone.length) shell.act(() => releaseMovedAway(store, ipam, gone));
    const rows = events
      .filter((e) => !e.remote && REPLICATED.has(e.entity))
      .map((e) => replica.get(e.entity as ReplicaTable, e.key))
      .filter((r) => !!r);
    if (rows.length)
      shell.act((n) => {
        for (const r of rows) n.sync.publish(r!);
      });
  });
  if (config.cluster.join.length) shell.act((n, now) => n.swim.join(now, config.cluster.join));
  // Address agreement steps, as operators follow them in the log: the voter set as this host
  // sees it, and the moment this host may vote (admitted, promises copied).
  let saidVoters = "";
  let saidVoting = false;
  const ipamLog = setInterval(() => {
    const voters = ipam.voters();
    const list = voters.join(",");
    if (list !== saidVoters) l.info("ipam voters", { voters: (saidVoters = list) || "none" });
    const voting = voters.includes(store.nodeId) && ipam.inheritance.complete;
    if (voting && !saidVoting)
      l.info("ipam voting", { note: "admitted and promises copied: this host now votes on new blocks" });
    saidVoting = voting;
  }, 500);
  l.info("cluster started", {
    addr: shell.addr,
    generation: gen,
    peers: config.cluster.join.join(",") || "none (first node)",
  });
  if (config.cluster.join.length) {
    // Learn before serving whether the name is taken: a joined peer, a conflict, or the timeout.
    const refused = await names.check();
    if (refused !== null) {
      unsubscribe();
      clearInterval(ipamLog);
      clearInterval(marksTimer);
      throw new NodeNameConflict(refused);
    }
  }

  return {
    members: () => shell.node.swim.members(),
    voters: () => ipam.voters(),
    allocator: new ClusterAllocator({
      ipam,
      self: store.nodeId,
      act: (fn) => {
        let r!: ReturnType<typeof fn>;
        shell.act((_n, now) => {
          r = fn(now);
        });
        return r;
      },
      hostAddress: {
        find: (networkId) => findHostAddress(store, networkId, store.nodeId),
        claim: (networkId, address) => claimHostAddress(store, networkId, store.nodeId, address),
      },
      log: l,
    }),
    syncFloating(wanted) {
      const want = new Set(wanted);
      shell.act((_n, now) => {
        for (const a of ipam.serving()) if (!want.has(a)) ipam.releaseFloating(a);
        for (const a of want) if (!ipam.serving().includes(a)) ipam.serveFloating(a, now);
      });
      return ipam.serving().filter((a) => want.has(a));
    },
    peerAddresses: () =>
      shell.node.swim
        .members()
        .filter((m) => m.state === "alive" && m.id !== store.nodeId)
        .map((m) => splitHostPort(m.addr)?.host)
        .filter((h): h is string => !!h),
    join: (addrs) => shell.act((n, now) => n.swim.join(now, addrs)),
    leave: () => shell.act((n, now) => n.swim.leave(now)),
    forget: (h) => {
      let r!: ReturnType<Ipam["forget"]>;
      shell.act(() => {
        r = ipam.forget(h);
      });
      return r;
    },
    keys: () => ring.list().map(({ id, primary, retireAt }) => ({ id, primary, retireAt })),
    keyOp(op, key) {
      shell.act((_n, now) => {
        if (op === "install") keys.install(key);
        else if (op === "use") keys.use(key);
        else keys.remove(key, now);
      });
    },
    alarms: () => [
      ...(ipam.stats.duplicateAlarms > 0
        ? [`duplicate address alarm raised ${ipam.stats.duplicateAlarms} time(s)`]
        : []),
      ...names.alarms(),
    ],
    namesakes: () => names.namesakes(),
    async stop() {
      unsubscribe();
      clearInterval(ipamLog);
      clearInterval(marksTimer);
      saveMarks(store, crypto);
      if (names.refused !== null) return;
      shell.act((n, now) => n.swim.leave(now));
      await clock.sleep(LEAVE_SPREAD_MS);
      shell.stop();
    },
  };
}
