/**
 * The composition root: `netlet agent`. It wires every module explicitly, in one place:
 *   config → store → (admin API, gossip) write the store → change events → reconcilers
 *   (DHCP host table, RA config, metadata cache, dataplane).
 * Nothing else in the code base starts servers or subscribes to the store.
 */
import { chmodSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { hostname as osHostname } from "node:os";
import { createAdminApp } from "../api/app.ts";
import { StandaloneAllocator } from "../ipam/standalone.ts";
import type { Config } from "../config/load.ts";
import { planReload, type ReloadPlan } from "../config/reload.ts";
import { readHostSubnets } from "../sys/host-subnets.ts";
import { LibvirtWatch } from "../libvirt/watch.ts";
import type { Logger } from "../log.ts";
import { gauge } from "../metrics.ts";
import { Reconciler } from "../reconcile/reconciler.ts";
import { moduleTargets } from "../reconcile/targets.ts";
import { Store } from "../store/db.ts";
import { registerHost } from "../store/hosts.ts";
import { listNetworks } from "../store/networks.ts";
import { claimSocket, lockStateDir, socketInode } from "../sys/agent-lock.ts";
import { defaultRouteSource } from "../sys/my-ip.ts";
import { commit, VERSION } from "../version.ts";
import { Alarms } from "./alarms.ts";
import { startCluster } from "./cluster.ts";
import { startDataplane } from "./dataplane.ts";
import { startDhcp } from "./dhcp.ts";
import { startDns } from "./dns.ts";
import { startMetadata } from "./metadata.ts";
import { serveOps } from "./ops-http.ts";
import { startRa } from "./ra.ts";
import { announceGateway } from "../dataplane/announce.ts";
import { statusReport } from "./status.ts";

const alarmGauge = gauge("netlet_alarm", "1 while the named alarm is raised (see netlet status), 0 once it cleared");

export interface AgentOptions {
  config: Config;
  socket: string;
  log: Logger;
  /** The file the configuration came from (null: built-in defaults). */
  configPath?: string | null;
  /** `netlet agent --shutdown` asked over the admin API: stop serving for good. */
  onShutdownRequest?: () => void;
}

export interface Agent {
  store: Store;
  /** SIGHUP: apply what can change live, log what needs a restart. */
  reload(next: Config): Promise<ReloadPlan>;
  /**
   * Stop. The dataplane and the guests' IPv6 routes stay (a restart must not hurt them); with
   * `withdraw` the host stops serving for good and final RAs (router lifetime 0) say so.
   */
  stop(opts?: { withdraw?: boolean }): Promise<void>;
}

/** Serve the admin API on a socket path that claimSocket() has made free. */
function serveAdminSocket(path: string, fetch: (req: Request) => Response | Promise<Response>) {
  const server = Bun.serve({ unix: path, fetch });
  chmodSync(path, 0o600);
  return server;
}

export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const { log } = opts;
  // This host's address: my_ip, else the source address of the default route.
  const myIp = opts.config.myIp || defaultRouteSource();
  const config: Config = { ...opts.config, myIp };
  const nodeId = config.host ?? osHostname();
  // Refuse to be a second agent before anything is started or sent.
  const lock = lockStateDir(config.statePath);
  let unlinkSocket: (ino: number | null) => void;
  try {
    mkdirSync(dirname(opts.socket), { recursive: true });
    unlinkSocket = await claimSocket(opts.socket);
  } catch (err) {
    lock.release();
    throw err;
  }
  const store = new Store(join(config.statePath, "netlet.db"), { nodeId, log: log.child({ component: "store" }) });
  registerHost(store, osHostname(), myIp);

  const alarms = new Alarms(Date.now, alarmGauge);
  // Protocol modules, each fed by the reconciler from one HostView per pass.
  let kick = () => {};
  const dataplane = startDataplane(config, log, store, () => kick());
  const dhcp = config.networkManager === "flat" ? null : startDhcp(store, config, log, alarms);
  const ra = startRa(config, log);
  const metadata = startMetadata(store, config, log);
  const dns = startDns(config, log);
  let onMembership = () => {};
  const cluster = await startCluster(store, config, myIp, log, () => onMembership());
  const reconciler = new Reconciler(
    store,
    config,
    moduleTargets(
      store,
      { dataplane: dataplane.sink, dhcp: dhcp?.dhcp, ra: ra?.ra, dns: dns?.dns, metadata: metadata.sink },
      log,
    ),
    log.child({ component: "reconcile" }),
    cluster,
  );
  onMembership = () => void reconciler.kick();
  kick = () => void reconciler.kick();
  reconciler.onStep = (step, err) =>
    err === null ? alarms.clear(`reconcile.${step}`) : alarms.set(`reconcile.${step}`, err);
  let libvirt: LibvirtWatch | null = null;
  const alarmLines = () => [
    ...alarms.lines(),
    ...(cluster?.alarms() ?? []),
    ...(dns?.alarms() ?? []),
    ...(libvirt?.alarms ?? []),
  ];

  const startedAt = Date.now();
  const status = () =>
    statusReport(store, config, {
      startedAt,
      myIp,
      driver: config.firewallDriver,
      dhcpOn: !!dhcp,
      reconcile: () => reconciler.status,
      lastApply: () => dataplane.lastApply(),
      ra: () => ra?.ra.status() ?? null,
      metadataSeen: (uuid) => metadata.seen(uuid),
      dns: () => dns?.dns.status() ?? null,
      peers: () =>
        cluster
          ?.members()
          .filter((m) => m.id !== nodeId)
          .map((m) => ({ id: m.id, address: m.addr, state: m.state, incarnation: m.incarnation, rttMs: m.rttMs })) ??
        null,
      voters: () => cluster?.voters() ?? null,
      alarms: alarmLines,
    });
  // The bridges netlet addresses itself carry its networks' gateways, not the host's subnets.
  const hostSubnets = () =>
    readHostSubnets(new Set([config.flatNetworkBridge, ...listNetworks(store).map((n) => n.bridge)]));
  // A plug returns once a pass that saw it has applied the rules (or with the reason it could not).
  const portsApplied = async () => {
    await reconciler.applied();
    return reconciler.status.failing.view ?? reconciler.status.failing.firewall ?? null;
  };
  const admin = createAdminApp({
    store,
    config,
    log: log.child({ component: "api" }),
    configPath: opts.configPath ?? null,
    shutdown: opts.onShutdownRequest,
    status,
    cluster,
    allocator: cluster?.allocator ?? new StandaloneAllocator(),
    hostSubnets,
    dataplaneShow: () => dataplane.show(),
    portsApplied,
    announce: (port, bridge, gw) => announceGateway(port, bridge, gw, (line) => log.info(line)),
    dnsQuery: dns?.query,
  });
  // Reconciliation with libvirt's domains when virsh is here and libvirt_uri is set.
  libvirt =
    config.libvirtUri && Bun.which("virsh")
      ? new LibvirtWatch(store, {
          uri: config.libvirtUri,
          pollMs: config.libvirtPollInterval * 1000,
          graceMs: config.libvirtUndefineGrace * 1000,
          fetch: admin.fetch,
          log: log.child({ component: "libvirt" }),
        })
      : null;
  const apiServer = serveAdminSocket(opts.socket, admin.fetch);
  const socketIno = socketInode(opts.socket);
  const ops = serveOps(config.adminListen, store, log, alarmLines);
  await reconciler.kick();
  reconciler.every(30_000);
  libvirt?.start();
  log.info("agent started", { node: nodeId, my_ip: myIp, socket: opts.socket, version: VERSION, commit: commit() });

  let running = config;
  return {
    store,
    async reload(next) {
      const plan = planReload(running, next);
      running = plan.config;
      reconciler.config = plan.config;
      await reconciler.kick();
      log.info("config reloaded", {
        applied: plan.applied.join(",") || "nothing",
        needs_restart: plan.needsRestart.join(",") || "nothing",
      });
      return plan;
    },
    async stop(o: { withdraw?: boolean } = {}) {
      libvirt?.stop();
      reconciler.stop();
      apiServer.stop(true);
      await cluster?.stop();
      ops?.stop(true);
      // The dataplane stays so instances keep working; final RAs only when we stop serving for good.
      await Promise.allSettled([
        ra?.stop({ withdraw: o.withdraw === true }),
        dhcp?.stop(),
        metadata.stop(),
        dns?.stop(),
      ]);
      dataplane.stop();
      unlinkSocket(socketIno);
      store.close();
      lock.release();
      log.info("agent stopped", { node: nodeId, withdrawn: o.withdraw === true });
    },
  };
}
