/**
 * Plug, unplug and migrate: the hypervisor (or the operator) declares which host-side port
 * carries a VIF, or that a guest moved here from another host. A plug answers only once the rules that bind the port are applied, so a hypervisor can
 * call it before it starts the guest and know the guest's first frame meets them.
 */
import type { Hono } from "hono";
import type { Store } from "../store/db.ts";
import { plugPort, unplugPort } from "../store/ports.ts";
import { takeHome } from "../store/migrate.ts";
import { getNetwork } from "../store/networks.ts";
import { invalid, unavailable } from "../util/errors.ts";
import { body } from "./body.ts";
import { instanceJson } from "./convert.ts";
import * as S from "./schemas.ts";

/** Resolves to null once the dataplane applied the current bindings, else to the reason it could not. */
export type PortsApplied = () => Promise<string | null>;

export async function settled(applied: PortsApplied | undefined): Promise<void> {
  const err = applied ? await applied() : null;
  // The store changed but the kernel does not follow yet: the caller may retry.
  if (err) throw unavailable(`the rules for the port are not applied: ${err}`, "port");
}

export function portRoutes(
  app: Hono,
  store: Store,
  applied: PortsApplied | undefined,
  cluster: () => Members | null | undefined = () => null,
  announce?: Announce,
): void {
  // A migration declares the new home's port, as a plug does.
  migrateRoute(app, store, applied, cluster, announce);
  app.post("/v1/instances/:ref/plug", async (c) => {
    const b = await body(c, S.Plug);
    const r = plugPort(store, c.req.param("ref"), { port: b.port, mac: b.mac, network: b.network });
    await settled(applied);
    return c.json({ ...instanceJson(store, r.instance), plugged: { port: r.port, mac: r.vif.mac } });
  });
  app.post("/v1/instances/:ref/unplug", async (c) => {
    const b = await body(c, S.Unplug);
    const r = unplugPort(store, c.req.param("ref"), b.port);
    await settled(applied);
    return c.json({
      ...instanceJson(store, r[0].instance),
      unplugged: r.map((x) => ({ port: x.port, mac: x.vif.mac })),
    });
  });
}

/** Tell a guest on `port` that `gateway` (of `bridge`) is this host now (src/dataplane/announce.ts). */
export type Announce = (port: string, bridge: string, gateway: string) => void;

/** What a migration asks of the cluster: who is a member, in which state. */
export interface Members {
  members(): { id: string; state: string }[];
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

function userData(b64: string | null): Uint8Array | null {
  if (b64 === null) return null;
  if (b64.length % 4 !== 0 || !BASE64_RE.test(b64)) throw invalid("user_data is not valid base64", "user_data");
  return new Uint8Array(Buffer.from(b64, "base64"));
}

/**
 * `POST /v1/instances/:ref/migrate`: the new home of a live-migrated guest takes its instance
 * (src/store/migrate.ts). Called on the target host, by the libvirt hook's `migrate` phase or by
 * `netlet migrate` for other hypervisors. With `port`, the new tap is declared in the same step
 * and the answer waits, as a plug does, until its rules are applied.
 */
function migrateRoute(
  app: Hono,
  store: Store,
  applied: PortsApplied | undefined,
  cluster: () => Members | null | undefined,
  announce: Announce | undefined,
): void {
  app.post("/v1/instances/:ref/migrate", async (c) => {
    const b = await body(c, S.Migrate);
    const agent = cluster() ?? null;
    const state = agent
      ? (id: string) => agent.members().find((m) => m.id === id)?.state ?? (id === store.nodeId ? "alive" : null)
      : null;
    const r = takeHome(
      store,
      c.req.param("ref"),
      { toHost: b.to_host, port: b.port, mac: b.mac, userData: userData(b.user_data) },
      state,
    );
    if (r.plugged) {
      await settled(applied);
      // A gateway address every host shares still resolves to the old host in the guest.
      const net = getNetwork(store, r.plugged.vif.networkId);
      if (r.moved && net.cidr && net.dhcpServer && (!net.multiHost || net.shareAddress))
        announce?.(r.plugged.port, net.bridge, net.dhcpServer);
    }
    return c.json({
      ...instanceJson(store, r.instance),
      migrated: {
        from: r.from,
        to: store.nodeId,
        moved: r.moved,
        floating_ips: r.floating,
        leases: r.leases,
        plugged: r.plugged ? { port: r.plugged.port, mac: r.plugged.vif.mac } : null,
      },
    });
  });
}
