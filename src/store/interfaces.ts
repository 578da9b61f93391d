/**
 * Multinic after boot: nova's interface-attach / interface-detach (and add-fixed-ip /
 * remove-fixed-ip, which in nova-network add or remove a port on a network). A port is a VIF:
 * a MAC, a fixed IP from the network (or the one asked for), the EUI-64 IPv6 address.
 */
import type { Instance, Vif } from "../model.ts";
import type { Store } from "./db.ts";
import { conflict, notFound } from "../util/errors.ts";
import { addVif, getInstance, listVifs } from "./instances.ts";
import { getNetwork } from "./networks.ts";

export interface AttachParams {
  network: string;
  mac?: string;
  fixedIp?: string;
}

function local(store: Store, ref: string): Instance {
  const inst = getInstance(store, ref);
  if (inst.host !== store.nodeId)
    throw conflict(`instance ${inst.name} runs on ${inst.host}; change its ports there`, "instance");
  return inst;
}

export function attachInterface(
  store: Store,
  ref: string,
  p: AttachParams,
  randomBytes: (n: number) => Uint8Array = (n) => crypto.getRandomValues(new Uint8Array(n)),
): Vif {
  return store.write(() => {
    const inst = local(store, ref);
    const net = getNetwork(store, p.network, "network");
    if (net.projectId !== null && net.projectId !== inst.projectId) throw notFound(`network ${p.network}`, "network");
    const vifs = listVifs(store, { instanceUuid: inst.uuid });
    const idx = vifs.reduce((m, v) => Math.max(m, v.index + 1), 0);
    addVif(store, inst.uuid, net.id, idx, p.mac, p.fixedIp, randomBytes);
    store.changed("instance", "put", inst.uuid);
    return listVifs(store, { instanceUuid: inst.uuid }).find((v) => v.index === idx)!;
  });
}

/** Detach the port with this MAC, or the one holding this fixed IP. Returns it. */
export function detachInterface(store: Store, ref: string, match: { mac?: string; address?: string }): Vif {
  return store.write(() => {
    const inst = local(store, ref);
    const vif = listVifs(store, { instanceUuid: inst.uuid }).find(
      (v) =>
        (match.mac !== undefined && v.mac === match.mac.toLowerCase()) ||
        (match.address !== undefined && v.address === match.address),
    );
    if (!vif)
      throw notFound(
        `port ${match.mac ?? match.address} on instance ${inst.name}`,
        match.mac !== undefined ? "mac" : "address",
      );
    const v = store.version();
    store.db.query("UPDATE vifs SET deleted = 1, origin = ?, hlc = ? WHERE id = ?").run(v.origin, v.hlc, vif.id);
    store.changed("vif", "delete", vif.id);
    const rows = store.db
      .query<{ network_id: string; address: string }, [string]>(
        "SELECT network_id, address FROM fixed_ips WHERE vif_id = ?",
      )
      .all(vif.id);
    store.db
      .query(
        "UPDATE fixed_ips SET instance_uuid = NULL, vif_id = NULL, allocated = 0, leased = 0, updated_at = ? WHERE vif_id = ?",
      )
      .run(store.now(), vif.id);
    for (const r of rows) store.changed("fixed_ip", "put", `${r.network_id}/${r.address}`);
    store.changed("instance", "put", inst.uuid);
    return vif;
  });
}
