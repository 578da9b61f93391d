/**
 * The composition root: `netlet agent`. It wires every module explicitly, in one place:
 *   config → store → (admin API, gossip) write the store → change events → reconcilers
 *   (DHCP host table, RA config, metadata cache, dataplane).
 * Nothing else in the code base starts servers or subscribes to the store.
 */
import { chmodSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { hostname as osHostname } from "node:os";
import type { Config } from "./config/load.ts";
import type { Logger } from "./log.ts";
import { gauge, registry } from "./metrics.ts";
import { Alarms } from "./alarms.ts";
import { Store } from "./store/db.ts";
import { registerHost } from "./store/hosts.ts";
import { createAdminApp } from "./api/app.ts";
import { announceGateway } from "./dataplane/announce.ts";
import { readHostSubnets } from "./ipam/host-subnets.ts";
import { listNetworks } from "./store/networks.ts";
import { VERSION, commit } from "./version.ts";
import { Reconciler } from "./reconcile/reconciler.ts";
import { startDataplane, startDhcp, startDns, startMetadata, startRa } from "./modules.ts";
import { statusReport } from "./status.ts";
import { startCluster } from "./cluster-agent.ts";
import { planReload, type ReloadPlan } from "./config/reload.ts";
import { claimSocket, lockStateDir, socketInode } from "./agent-lock.ts";
import { LibvirtWatch } from "./libvirt/watch.ts";

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

/** This host's address: my_ip, else the source address the kernel would use for the default route. */
export function detectMyIp(config: Config): string {
  if (config.myIp) return config.myIp;
  const r = Bun.spawnSync(["ip", "-4", "-o", "route", "get", "192.0.2.1"], { stderr: "ignore" });
  const m = /src (\d+\.\d+\.\d+\.\d+)/.exec(r.stdout.toString());
  return m ? m[1] : "127.0.0.1";
}

/** Serve the admin API on a socket path that claimSocket() has made free. */
function serveAdminSocket(path: string, fetch: (req: Request) => Response | Promise<Response>) {
  const server = Bun.serve({ unix: path, fetch });
  chmodSync(path, 0o600);
  return server;
}

/** /metrics, /healthz (the process answers) and /readyz (the store answers and no alarm is raised). */
function serveOps(listen: string, store: Store, log: Logger, alarms: () => string[]) {
  const i = listen.lastIndexOf(":");
  const hostname = listen.slice(0, i).replace(/^\[|\]$/g, "");
  const port = Number(listen.slice(i + 1));
  try {
    return Bun.serve({
      hostname,
      port,
      fetch(req) {
        const path = new URL(req.url).pathname;
        if (path === "/metrics") {
          alarms(); // expire transient alarms so netlet_alarm is current
          return new Response(registry.render(), { headers: { "content-type": "text/plain; version=0.0.4" } });
        }
        if (path === "/healthz") return new Response("ok\n");
        if (path === "/readyz") {
          store.db.query("SELECT 1").get();
          const raised = alarms();
          if (raised.length)
            return new Response(`not ready\n${raised.map((a) => `alarm ${a}`).join("\n")}\n`, { status: 503 });
          return new Response("ready\n");
        }
        return new Response("not found\n", { status: 404 });
      },
    });
  } catch (err) {
    log.warn("admin listener not started", { listen, err: String(err) });
    return null;
  }
}

export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const { log } = opts;
  const myIp = detectMyIp(opts.config);
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
  const store = new Store(join(config.statePath, "netlet.db"), { nodeId });
  registerHost(store, osHostname(), myIp);

  const alarms = new Alarms(Date.now, alarmGauge);
  // Protocol modules, each fed by the reconciler from one HostView per pass.
  let kick = () => {};
  const dataplane = startDataplane(config, log, store, () => kick());
  const dhcp = config.networkManager === "flat" ? null : startDhcp(store, config, log, alarms);
  const ra = startRa(config, log);
  const metadata = startMetadata(store, config, log);
  const dns = startDns(store, config, log);
  let onMembership = () => {};
  const cluster = await startCluster(store, config, myIp, log, () => onMembership());
  const reconciler = new Reconciler(
    store,
    config,
    {
      links: dataplane.target.links,
      dhcp: dhcp?.target,
      ra: ra?.target,
      metadata: metadata.target,
      dns: dns?.target,
      firewall: dataplane.target.firewall,
    },
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
