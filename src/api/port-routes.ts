/**
 * Plug and unplug: the hypervisor (or the operator) declares which host-side port carries a
 * VIF. A plug answers only once the rules that bind the port are applied, so a hypervisor can
 * call it before it starts the guest and know the guest's first frame meets them.
 */
import type { Hono } from "hono";
import type { Store } from "../store/db.ts";
import { plugPort, unplugPort } from "../store/ports.ts";
import { unavailable } from "../util/errors.ts";
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

export function portRoutes(app: Hono, store: Store, applied: PortsApplied | undefined): void {
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
