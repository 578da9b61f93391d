/**
 * The protocol modules as the agent runs them: each `startX` builds one module's shell from the
 * config and returns the reconcile target that feeds it from the HostView, plus its stop. Kept
 * apart from agent.ts so the composition root reads as a list.
 */
import { readFileSync } from "node:fs";
import type { Config } from "./config/load.ts";
import type { Logger } from "./log.ts";
import type { Store } from "./store/db.ts";
import { DhcpService } from "./dhcp/service.ts";
import { storeLeaseStore } from "./dhcp/store-leases.ts";
import { RaService } from "./ra/service.ts";
import { createMetadataApp, type MetadataApp } from "./metadata/app.ts";
import { startMetadataServer, type MetadataServer } from "./metadata/server.ts";
import { applyChange } from "./metadata/events.ts";
import { AccessAggregator, type AccessLine } from "./metadata/access-aggregate.ts";
import { Dataplane } from "./dataplane/apply.ts";
import { Links, type OwnedStore } from "./dataplane/links-apply.ts";
import { parseOwned } from "./dataplane/owned.ts";
import { OWNED_META_KEY } from "./dataplane/flush.ts";
import { probeBridgeMeta, readForeignPorts } from "./dataplane/kernel-ports.ts";
import { managedLinks } from "./dataplane/nft-bridge.ts";
import { spawnExec } from "./dataplane/exec.ts";
import { debounce, watchLines } from "./dataplane/watch.ts";
import type { DesiredState } from "./dataplane/desired.ts";
import { dataplaneShow } from "./dataplane/show.ts";
import { StoreMetadataSource } from "./reconcile/metadata-source.ts";
import { awayMacs, dhcpBridges } from "./reconcile/dhcp.ts";
import { createRaPlanner } from "./reconcile/ra.ts";
import { desiredState } from "./reconcile/dataplane.ts";
import { createInterner } from "./reconcile/intern.ts";
import type { HostView } from "./reconcile/host-view.ts";
import type { ChangeEvent } from "./model.ts";
import { DnsService } from "./dns/service.ts";
import { createDnsPlanner } from "./reconcile/dns.ts";
import { parseQueryInput, queryJson } from "./dns/diagnose.ts";
import { listFloatingIps } from "./store/floating.ts";
import type { Alarms } from "./alarms.ts";

/** How long a DHCP internal error keeps its alarm raised after the last one. */
const DHCP_ALARM_TTL_MS = 10 * 60_000;

export function startDhcp(store: Store, config: Config, log: Logger, alarms?: Alarms) {
  const l = log.child({ component: "dhcp" });
  const dhcp = new DhcpService({
    leases: storeLeaseStore(store),
    forceRelease: config.forceDhcpRelease,
    log: (level, msg, fields) => {
      l[level](msg, fields);
      // A request the server could not answer: the client gets no lease, so say so where operators look.
      if (level === "error")
        alarms?.event(
          "dhcp.internal_error",
          `${msg} on ${String(fields?.bridge ?? "?")}: ${String(fields?.err ?? "")}`,
          DHCP_ALARM_TTL_MS,
        );
    },
    onEvent: (e) => l.info(e.type, { mac: e.mac, ip: e.address, network: e.networkId }),
  });
  return {
    dhcp,
    target: (view: HostView) => dhcp.setBridges(dhcpBridges(view), awayMacs(view)),
    stop: () => dhcp.stop(),
  };
}

export function startRa(config: Config, log: Logger) {
  if (!config.useIpv6) return null;
  const l = log.child({ component: "ra" });
  const ra = new RaService({ log: (event, fields) => l.info(event, fields) });
  const plan = createRaPlanner();
  const target = (view: HostView) => {
    const { bridges, refused } = plan(view);
    for (const r of refused) l.warn("network not advertised", { network: r.networkId, bridge: r.bridge, err: r.error });
    ra.setBridges(bridges);
  };
  return { ra, target, stop: (o?: { withdraw?: boolean }) => ra.stop(o) };
}

export function startDns(store: Store, config: Config, log: Logger) {
  // flat mode hands out no DHCP and owns no bridge address to listen on, as nova's had no dnsmasq.
  if (!config.dnsService || config.networkManager === "flat") return null;
  const l = log.child({ component: "dns" });
  const rate = config.dnsRateLimit;
  const dns = new DnsService({
    log: (level, msg, fields) => l[level](msg, fields),
    rateLimit: { perSecond: rate, burst: rate * 2, maxSources: 4096 },
  });
  const plan = createDnsPlanner();
  // Floating IPs of the whole cluster name their instances in PTR answers (the view has this host's only).
  let planError: string | null = null;
  const target = (view: HostView) => {
    // A bad row costs the DNS plan of this pass, never the firewall that follows it.
    try {
      dns.setPlan(plan(view, listFloatingIps(store)));
      planError = null;
    } catch (err) {
      planError = String(err instanceof Error ? err.message : err);
      l.error("DNS plan failed; keeping the previous one", { err: planError });
    }
  };
  const alarms = () => [
    ...(planError ? [`dns: ${planError}`] : []),
    ...dns
      .status()
      .filter((x) => x.state.startsWith("not listening"))
      .map((x) => `dns: ${x.address} (${x.bridge}) ${x.state}`),
  ];
  const query = async (name: string | undefined, type: string | undefined) => {
    const input = parseQueryInput(name, type);
    if (!input.ok)
      return { status: 400 as const, body: { error: input.error, field: input.error.split(" ")[0].replace(/:$/, "") } };
    return { status: 200 as const, body: queryJson(input.name, input.type, await dns.query(input.name, input.type)) };
  };
  return { dns, target, query, alarms, stop: () => dns.stop() };
}

function vendordata(config: Config, log: Logger): unknown {
  if (!config.vendordataJsonfilePath) return null;
  try {
    return JSON.parse(readFileSync(config.vendordataJsonfilePath, "utf8"));
  } catch (err) {
    log.warn("vendordata_jsonfile_path unreadable; serving {}", {
      path: config.vendordataJsonfilePath,
      err: String(err),
    });
    return null;
  }
}

/** The instance a VIF or fixed-IP event touches, so only its cached documents are dropped. */
function ownerOf(store: Store) {
  return (e: ChangeEvent): string | null => {
    if (e.entity === "vif")
      return (
        store.db.query<{ u: string }, [string]>("SELECT instance_uuid AS u FROM vifs WHERE id = ?").get(e.key)?.u ??
        null
      );
    // A fixed IP changes together with its VIF, whose own event carries the instance.
    if (e.entity === "fixed_ip") return "-";
    return null;
  };
}

/** Refused metadata requests are logged once per source per this interval, with a count. */
const ACCESS_LOG_INTERVAL_MS = 10_000;

export function startMetadata(store: Store, config: Config, log: Logger) {
  const l = log.child({ component: "metadata" });
  /** When each instance last read its metadata (for `netlet status`); bounded by the instances. */
  const lastSeen = new Map<string, number>();
  // Refused requests are summed per source per interval: a VM hammering the service must not fill the disk.
  const access = new AccessAggregator(Date.now(), ACCESS_LOG_INTERVAL_MS);
  const write = (lines: AccessLine[]) => {
    for (const line of lines) {
      if (line.kind === "request") l.info("request", { ...line.entry });
      else {
        const s = line.summary;
        l.warn("more requests refused", {
          source: s.source,
          instance: s.instance,
          count: s.count,
          interval_s: ACCESS_LOG_INTERVAL_MS / 1000,
          statuses: Object.entries(s.statuses)
            .map(([k, n]) => `${k}:${n}`)
            .join(","),
        });
      }
    }
  };
  const flushTimer = setInterval(() => write(access.flush(Date.now())), ACCESS_LOG_INTERVAL_MS);
  flushTimer.unref?.();
  const app: MetadataApp = createMetadataApp({
    source: new StoreMetadataSource(store),
    config: {
      dhcpDomain: config.dhcpDomain,
      cacheExpiration: config.metadataCacheExpiration,
      vendordataStatic: vendordata(config, l),
      vendordataDynamicTargets: config.vendordataDynamicTargets,
    },
    log: (entry) => {
      if (entry.instance) lastSeen.set(entry.instance, Date.now());
      write(access.record(entry, Date.now()));
    },
  });
  const owner = ownerOf(store);
  const networkOfAddress = new Map<string, string>();
  let server: MetadataServer | null = null;
  const target = (view: HostView, events: readonly ChangeEvent[]) => {
    for (const e of events) {
      applyChange(app, e, owner);
      if (e.entity === "instance" && e.op === "delete") lastSeen.delete(e.key);
    }
    networkOfAddress.clear();
    for (const s of view.served) if (s.hostAddress) networkOfAddress.set(s.hostAddress, s.network.id);
    const wanted =
      config.metadataListen === "0.0.0.0" || config.metadataListen === "::"
        ? [...networkOfAddress.keys()]
        : [config.metadataListen];
    if (!server) {
      if (wanted.length === 0) return;
      server = startMetadataServer({
        app,
        listen: wanted,
        port: config.metadataListenPort,
        networkOf: (a) => networkOfAddress.get(a) ?? null,
      });
    } else server.setListen(wanted);
  };
  const seen = (uuid: string) => lastSeen.get(uuid) ?? null;
  const stop = () => {
    clearInterval(flushTimer);
    write(access.flush(Number.POSITIVE_INFINITY));
    return server?.stop();
  };
  return { app, target, seen, stop };
}

/** The record of what netlet added to the host's links, in the store's local meta table. */
export function ownedStore(store: Store): OwnedStore {
  return {
    load: () => parseOwned(store.getMeta(OWNED_META_KEY)),
    save: (o) => store.setMeta(OWNED_META_KEY, JSON.stringify(o)),
  };
}

/**
 * Links and rules. Two kernel feeds keep them honest between passes: `nft monitor` (a table,
 * chain, rule or element changed behind netlet's back: check and repair within a second) and
 * `ip monitor link` (a port joined or left a bridge: without `meta ibrname` the list of other
 * bridges' ports must follow). `kick` asks the reconciler for a pass.
 */
export function startDataplane(config: Config, log: Logger, store: Store, kick: () => void = () => {}, watch = true) {
  const l = log.child({ component: "dataplane" });
  const exec = spawnExec();
  const links = new Links({ log: (line) => l.info(line), owned: ownedStore(store) });
  const dataplane = new Dataplane({ log: (line) => l.info(line) });
  let last: DesiredState | null = null;
  let lastApply: { kind: string; ms: number; at: number } | null = null;
  const intern = createInterner();
  const bridgeMeta = probeBridgeMeta(exec).catch(() => false);
  let meta: boolean | null = null;
  // links and firewall run in the same pass on the same view: build its desired state once.
  let builtFor: HostView | null = null;
  let built: DesiredState | null = null;
  const desiredOf = (view: HostView): DesiredState => {
    if (view !== builtFor) {
      builtFor = view;
      built = desiredState(view, meta ?? false);
    }
    return built!;
  };
  let foreign: string[] = [];
  let foreignStale = true;
  const withForeign = async (d: DesiredState): Promise<DesiredState> => {
    if (d.config.bridgeMeta) return d;
    if (foreignStale) {
      foreignStale = false;
      foreign = await readForeignPorts(exec, managedLinks(d).bridges);
    }
    return foreign.length ? { ...d, foreignPorts: foreign } : d;
  };
  const firewall = async (view: HostView) => {
    meta ??= await bridgeMeta;
    const d = intern(await withForeign(desiredOf(view)));
    const r = await dataplane.update(d);
    last = d;
    lastApply = { kind: r.kind, ms: Math.round(r.ms * 10) / 10, at: Date.now() };
  };
  const target = {
    links: async (view: HostView) => {
      meta ??= await bridgeMeta;
      await links.apply(desiredOf(view));
    },
    firewall,
  };
  const stopReconcile = dataplane.startReconcile(30_000);
  const repair = debounce(
    () => void dataplane.reconcile().catch((e) => l.warn("drift repair failed", { err: String(e) })),
    250,
  );
  const watches = watch
    ? [
        // Only removals: what drift looks like (a deleted element, a flushed chain, a dropped table),
        // and quiet during netlet's own full syncs, which print every added element.
        watchLines(["nft", "monitor", "destroy"], (line) => {
          if (!dataplane.ownEvent(line)) repair.poke();
        }),
        watchLines(["ip", "-o", "monitor", "link"], () => {
          foreignStale = true;
          kick();
        }),
      ]
    : [];
  const show = async () => (last ? dataplaneShow(last, await dataplane.readDrops().catch(() => ({}))) : null);
  return {
    dataplane,
    target,
    show,
    lastApply: () => lastApply,
    stop: () => {
      stopReconcile();
      repair.cancel();
      for (const w of watches) w.stop();
    },
  };
}
