/**
 * The reconciler's targets: each turns the pass's HostView into one module's input and hands it
 * over. The agent only builds the modules (src/agent/) and passes them here, so data flows
 * store → reconcile → modules and never climbs back to the composition root.
 */
import type { DesiredState } from "../dataplane/desired.ts";
import type { BridgeHosts } from "../dhcp/service.ts";
import type { DnsPlan } from "../dns/service.ts";
import type { Logger } from "../log.ts";
import { applyChange, type Invalidatable } from "../metadata/events.ts";
import type { ChangeEvent } from "../model.ts";
import type { BridgeConfig } from "../ra/config.ts";
import type { Store } from "../store/db.ts";
import { listFloatingIps } from "../store/floating.ts";
import { instanceOfVif } from "../store/instance-rows.ts";
import { desiredState } from "./dataplane.ts";
import { awayMacs, dhcpBridges } from "./dhcp.ts";
import { createDnsPlanner } from "./dns.ts";
import type { HostView } from "./host-view.ts";
import { createRaPlanner } from "./ra.ts";
import type { ReconcileTargets } from "./reconciler.ts";

export interface DataplaneSink {
  /** Whether bridge rules can match the bridge itself (`meta ibrname`); the kernel is asked once. */
  bridgeMeta(): Promise<boolean>;
  links(d: DesiredState): Promise<void>;
  firewall(d: DesiredState): Promise<void>;
}

export interface MetadataSink {
  cache: Invalidatable;
  /** Listen on these addresses; `networkOf` names the network a request arrived on. */
  listen(addresses: string[], networkOf: (address: string) => string | null): void;
  /** An instance is gone: forget when it last read its metadata. */
  forget(uuid: string): void;
}

export interface ModuleSinks {
  dataplane?: DataplaneSink;
  dhcp?: { setBridges(list: readonly BridgeHosts[], away?: ReadonlySet<string>): void };
  ra?: { setBridges(list: BridgeConfig[]): void };
  dns?: { setPlan(plan: DnsPlan): void };
  metadata?: MetadataSink;
}

export function moduleTargets(store: Store, modules: ModuleSinks, log: Logger): ReconcileTargets {
  const targets: ReconcileTargets = {};
  if (modules.dataplane) Object.assign(targets, dataplaneTargets(modules.dataplane));
  const { dhcp, ra, dns, metadata } = modules;
  if (dhcp) targets.dhcp = (view) => dhcp.setBridges(dhcpBridges(view), awayMacs(view));
  if (ra) {
    const plan = createRaPlanner();
    targets.ra = (view) => {
      const { bridges, refused } = plan(view);
      for (const r of refused)
        log.warn("network not advertised", { component: "ra", network: r.networkId, bridge: r.bridge, err: r.error });
      ra.setBridges(bridges);
    };
  }
  if (dns) {
    const plan = createDnsPlanner();
    // Floating IPs of the whole cluster name their instances in PTR answers (the view has this host's only).
    // A plan that throws fails this step only: the service keeps the previous plan, the step's alarm says why.
    targets.dns = (view) => dns.setPlan(plan(view, listFloatingIps(store)));
  }
  if (metadata) targets.metadata = metadataTarget(store, metadata);
  return targets;
}

/** Links and rules read the same view in one pass: its desired state is built once. */
function dataplaneTargets(sink: DataplaneSink): Pick<ReconcileTargets, "links" | "firewall"> {
  let builtFor: HostView | null = null;
  let built: DesiredState | null = null;
  const desiredOf = async (view: HostView): Promise<DesiredState> => {
    const meta = await sink.bridgeMeta();
    if (view !== builtFor || !built) {
      builtFor = view;
      built = desiredState(view, meta);
    }
    return built;
  };
  return {
    links: async (view) => sink.links(await desiredOf(view)),
    firewall: async (view) => sink.firewall(await desiredOf(view)),
  };
}

function metadataTarget(store: Store, sink: MetadataSink): NonNullable<ReconcileTargets["metadata"]> {
  // The instance a VIF event touches, so only its cached documents are dropped; a fixed IP
  // changes together with its VIF, whose own event carries the instance.
  const owner = (e: ChangeEvent): string | null =>
    e.entity === "vif" ? instanceOfVif(store, e.key) : e.entity === "fixed_ip" ? "-" : null;
  const networkOfAddress = new Map<string, string>();
  return (view, events) => {
    for (const e of events) {
      applyChange(sink.cache, e, owner);
      if (e.entity === "instance" && e.op === "delete") sink.forget(e.key);
    }
    networkOfAddress.clear();
    for (const s of view.served) if (s.hostAddress) networkOfAddress.set(s.hostAddress, s.network.id);
    const any = view.config.metadataListen === "0.0.0.0" || view.config.metadataListen === "::";
    sink.listen(
      any ? [...networkOfAddress.keys()] : [view.config.metadataListen],
      (a) => networkOfAddress.get(a) ?? null,
    );
  };
}
