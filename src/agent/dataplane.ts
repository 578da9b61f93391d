/** Links and rules as the agent runs them, with the kernel feeds that keep them honest. */
import type { Config } from "../config/load.ts";
import type { Logger } from "../log.ts";
import type { Store } from "../store/db.ts";
import { Dataplane } from "../dataplane/apply.ts";
import { Links, type OwnedStore } from "../dataplane/links-apply.ts";
import { parseOwned } from "../dataplane/owned.ts";
import { probeBridgeMeta, readForeignPorts } from "../dataplane/kernel-ports.ts";
import { managedLinks } from "../dataplane/nft-bridge.ts";
import { spawnExec } from "../sys/exec.ts";
import { debounce, watchLines } from "../dataplane/watch.ts";
import type { DesiredState } from "../dataplane/desired.ts";
import { dataplaneShow } from "../dataplane/show.ts";
import type { DataplaneSink } from "../reconcile/targets.ts";

/** Where the record of what netlet added to the host's links lives in the store's local meta table. */
const OWNED_META_KEY = "dataplane.owned";

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
  const links = new Links({ log: l, owned: ownedStore(store) });
  const dataplane = new Dataplane({ log: l });
  let last: DesiredState | null = null;
  let lastApply: { kind: string; ms: number; at: number } | null = null;
  const bridgeMeta = probeBridgeMeta(exec).catch(() => false);
  // Without `meta ibrname` the rules list the ports of the other bridges, read from the kernel.
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
  const sink: DataplaneSink = {
    bridgeMeta: () => bridgeMeta,
    links: async (d) => {
      await links.apply(d);
    },
    async firewall(desired) {
      const d = await withForeign(desired);
      const r = await dataplane.update(d);
      last = d;
      lastApply = { kind: r.kind, ms: Math.round(r.ms * 10) / 10, at: Date.now() };
    },
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
    sink,
    show,
    lastApply: () => lastApply,
    stop: () => {
      stopReconcile();
      repair.cancel();
      for (const w of watches) w.stop();
    },
  };
}
