/**
 * The composition root: `netlet agent`. It wires every module explicitly, in one place:
 *   config → store → (admin API, gossip) write the store → change events → reconcilers
 *   (DHCP host table, RA config, metadata cache, dataplane).
 * Nothing else in the code base starts servers or subscribes to the store.
 */
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { hostname as osHostname } from "node:os";
import type { Config } from "./config/load.ts";
import type { Logger } from "./log.ts";
import { registry } from "./metrics.ts";
import { Store } from "./store/db.ts";
import { registerHost } from "./store/hosts.ts";
import { createAdminApp } from "./api/app.ts";
import { VERSION, commit } from "./version.ts";
import { Reconciler } from "./reconcile/reconciler.ts";
import { startDataplane, startDhcp, startDns, startMetadata, startRa } from "./modules.ts";
import { statusReport } from "./status.ts";
import { startCluster } from "./cluster-agent.ts";
import { planReload, type ReloadPlan } from "./config/reload.ts";
import { LibvirtWatch } from "./libvirt/watch.ts";

export interface AgentOptions {
  config: Config;
  socket: string;
  log: Logger;
}

export interface Agent {
  store: Store;
  /** SIGHUP: apply what can change live, log what needs a restart. */
  reload(next: Config): Promise<ReloadPlan>;
  stop(): Promise<void>;
}

/** This host's address: my_ip, else the source address the kernel would use for the default route. */
export function detectMyIp(config: Config): string {
  if (config.myIp) return config.myIp;
  const r = Bun.spawnSync(["ip", "-4", "-o", "route", "get", "192.0.2.1"], { stderr: "ignore" });
  const m = /src (\d+\.\d+\.\d+\.\d+)/.exec(r.stdout.toString());
  return m ? m[1] : "127.0.0.1";
}

function serveAdminSocket(path: string, fetch: (req: Request) => Response | Promise<Response>) {
  mkdirSync(dirname(path), { recursive: true });
  rmSync(path, { force: true });
  const server = Bun.serve({ unix: path, fetch });
  chmodSync(path, 0o600);
  return server;
}

function serveOps(listen: string, store: Store, log: Logger) {
  const i = listen.lastIndexOf(":");
  const hostname = listen.slice(0, i).replace(/^\[|\]$/g, "");
  const port = Number(listen.slice(i + 1));
  try {
    return Bun.serve({
      hostname,
      port,
      fetch(req) {
        const path = new URL(req.url).pathname;
        if (path === "/metrics") return new Response(registry.render(), { headers: { "content-type": "text/plain; version=0.0.4" } });
        if (path === "/healthz") return new Response("ok\n");
        if (path === "/readyz") {
          store.db.query("SELECT 1").get();
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
  const store = new Store(join(config.statePath, "netlet.db"), { nodeId });
  registerHost(store, osHostname(), myIp);

  // Protocol modules, each fed by the reconciler from one HostView per pass.
  let kick = () => {};
  const dataplane = startDataplane(config, log, () => kick());
  const dhcp = config.networkManager === "flat" ? null : startDhcp(store, config, log);
  const ra = startRa(config, log);
  const metadata = startMetadata(store, config, log);
  const dns = startDns(store, config, log);
  let onMembership = () => {};
  const cluster = await startCluster(store, config, myIp, log, () => onMembership());
  const reconciler = new Reconciler(store, config, {
    links: dataplane.target.links,
    dhcp: dhcp?.target,
    ra: ra?.target,
    metadata: metadata.target,
    dns: dns?.target,
    firewall: dataplane.target.firewall,
  }, log.child({ component: "reconcile" }), cluster);
  onMembership = () => void reconciler.kick();
  kick = () => void reconciler.kick();

  const startedAt = Date.now();
  const status = () => statusReport(store, config, {
    startedAt, myIp, driver: config.firewallDriver, dhcpOn: !!dhcp,
    reconcile: () => reconciler.status,
    lastApply: () => dataplane.lastApply(),
    ra: () => ra?.ra.status() ?? null,
    metadataSeen: (uuid) => metadata.seen(uuid),
    dns: () => dns?.dns.status() ?? null,
    peers: () => cluster?.members().filter((m) => m.id !== nodeId).map((m) => ({ id: m.id, address: m.addr, state: m.state, incarnation: m.incarnation, rttMs: m.rttMs })) ?? null,
    voters: () => cluster?.voters() ?? null,
    alarms: () => [...(reconciler.status.lastError ? [`reconcile: ${reconciler.status.lastError}`] : []), ...(cluster?.alarms() ?? []), ...(dns?.alarms() ?? []), ...(libvirt?.alarms ?? [])],
  });
  // A plug returns once a pass that saw it has applied the rules (or with the reason it could not).
  const portsApplied = async () => {
    await reconciler.applied();
    return reconciler.status.lastError ?? dataplane.firewallError();
  };
  const admin = createAdminApp({ store, config, status, cluster, dataplaneShow: () => dataplane.show(), portsApplied, dnsQuery: dns?.query });
  // Reconciliation with libvirt's domains when virsh is here and libvirt_uri is set.
  const libvirt = config.libvirtUri && Bun.which("virsh") ? new LibvirtWatch(store, {
    uri: config.libvirtUri, pollMs: config.libvirtPollInterval * 1000, graceMs: config.libvirtUndefineGrace * 1000, fetch: admin.fetch,
    log: log.child({ component: "libvirt" }),
  }) : null;
  const apiServer = serveAdminSocket(opts.socket, admin.fetch);
  const ops = serveOps(config.adminListen, store, log);
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
      log.info("config reloaded", { applied: plan.applied.join(",") || "nothing", needs_restart: plan.needsRestart.join(",") || "nothing" });
      return plan;
    },
    async stop() {
      libvirt?.stop();
      reconciler.stop();
      apiServer.stop(true);
      await cluster?.stop();
      ops?.stop(true);
      // Final RAs withdraw the router; the dataplane stays so instances keep working.
      await Promise.allSettled([ra?.stop(), dhcp?.stop(), metadata.stop(), dns?.stop()]);
      dataplane.stop();
      rmSync(opts.socket, { force: true });
      store.close();
      log.info("agent stopped", { node: nodeId });
    },
  };
}
