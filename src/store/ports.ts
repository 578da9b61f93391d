/**
 * The host-side port of each VIF, declared by the hypervisor (or the operator) when the guest's
 * tap is plugged and cleared when it is unplugged. The dataplane binds its anti-spoofing rules
 * to these names only: nothing is inferred from the traffic a port sends.
 */
import { checkIfName } from "../net/ifname.ts";
import { isMac, normalizeMac } from "../net/mac.ts";
import type { Instance, Vif } from "../model.ts";
import type { Store } from "./db.ts";
import { conflict, invalid } from "../util/errors.ts";
import { getInstance, listVifs } from "./instances.ts";
import { getNetwork } from "./networks.ts";

export interface PlugParams {
  port: string;
  mac?: string | null;
  network?: string | null;
}

export interface PortBinding {
  instance: Instance;
  vif: Vif;
  port: string;
}

/** Declared ports of this host, by VIF id. */
export function portsByVif(store: Store): Map<string, string> {
  const rows = store.db.query<{ vif_id: string; port: string }, []>("SELECT vif_id, port FROM vif_ports").all();
  return new Map(rows.map((r) => [r.vif_id, r.port]));
}

function portRow(store: Store, port: string): { vif_id: string } | null {
  return store.db.query<{ vif_id: string }, [string]>("SELECT vif_id FROM vif_ports WHERE port = ?").get(port);
}

/** The VIF of `inst` that a plug names: by MAC, by network, or the only one there is. */
function chooseVif(store: Store, inst: Instance, vifs: Vif[], p: PlugParams): Vif {
  if (p.mac) {
    if (!isMac(p.mac)) throw invalid(`mac ${p.mac} is not a MAC address (expected xx:xx:xx:xx:xx:xx)`, "mac");
    const mac = normalizeMac(p.mac);
    const v = vifs.find((x) => x.mac === mac);
    if (!v)
      throw invalid(
        `MAC ${mac} is not a port of instance ${inst.name} (its MACs: ${vifs.map((x) => x.mac).join(", ")})`,
        "mac",
      );
    return v;
  }
  if (p.network) {
    const net = getNetwork(store, p.network, "network");
    const v = vifs.find((x) => x.networkId === net.id);
    if (!v) throw invalid(`instance ${inst.name} has no port on network ${p.network}`, "network");
    return v;
  }
  if (vifs.length === 1) return vifs[0];
  throw invalid(`instance ${inst.name} has ${vifs.length} ports: name one with --mac or --network`, "port");
}

/** The live VIF of this host that holds `port`; a row left by a VIF that is gone or moved away does not count. */
function holder(store: Store, port: string): string | null {
  const row = portRow(store, port);
  if (!row) return null;
  return store.db.query("SELECT 1 FROM vifs WHERE id = ? AND deleted = 0 AND host = ?").get(row.vif_id, store.nodeId)
    ? row.vif_id
    : null;
}

/** Declare `p.port` as the host-side port of one of the instance's VIFs. */
export function plugPort(store: Store, ref: string, p: PlugParams): PortBinding {
  return store.write(() => {
    checkIfName("port", p.port);
    if (p.mac && p.network) throw invalid("name the VIF by --mac or by --network, not both", "mac");
    const inst = getInstance(store, ref);
    if (inst.host !== store.nodeId)
      throw conflict(`instance ${inst.name} runs on host ${inst.host}: plug its port there`, "instance");
    const vifs = listVifs(store, { instanceUuid: inst.uuid });
    if (vifs.length === 0) throw invalid(`instance ${inst.name} has no VIF to plug`, "instance");
    const vif = chooseVif(store, inst, vifs, p);
    const held = holder(store, p.port);
    if (held && held !== vif.id) {
      const owner = store.db
        .query<{ name: string; mac: string }, [string]>(
          "SELECT i.name AS name, v.mac AS mac FROM vifs v JOIN instances i ON i.uuid = v.instance_uuid WHERE v.id = ?",
        )
        .get(held);
      throw conflict(
        `port ${p.port} is already plugged for instance ${owner?.name ?? "?"} (MAC ${owner?.mac ?? "?"})`,
        "port",
      );
    }
    if (!held) {
      store.db.query("DELETE FROM vif_ports WHERE port = ?").run(p.port);
      store.db
        .query("INSERT OR REPLACE INTO vif_ports (vif_id, port, plugged_at) VALUES (?,?,?)")
        .run(vif.id, p.port, store.now());
      store.changed("vif_port", "put", vif.id);
    }
    return { instance: inst, vif, port: p.port };
  });
}

/** Clear the instance's declared port(s): `port` alone, or all of them. Returns what was unplugged. */
export function unplugPort(store: Store, ref: string, port: string | null = null): PortBinding[] {
  return store.write(() => {
    if (port !== null) checkIfName("port", port);
    const inst = getInstance(store, ref);
    const ports = portsByVif(store);
    const vifs = listVifs(store, { instanceUuid: inst.uuid }).filter(
      (v) => ports.has(v.id) && (port === null || ports.get(v.id) === port),
    );
    if (vifs.length === 0) {
      throw conflict(
        port === null
          ? `instance ${inst.name} has no plugged port`
          : `port ${port} is not plugged for instance ${inst.name}`,
        "port",
      );
    }
    for (const v of vifs) {
      store.db.query("DELETE FROM vif_ports WHERE vif_id = ?").run(v.id);
      store.changed("vif_port", "put", v.id);
    }
    return vifs.map((vif) => ({ instance: inst, vif, port: ports.get(vif.id)! }));
  });
}

/** Refuse a boot's `ports` before anything is written: names valid, unique, free. */
export function checkBootPorts(store: Store, ports: string[], networks: number): void {
  if (ports.length > networks) throw invalid(`${ports.length} --port values for ${networks} network(s)`, "port");
  const seen = new Set<string>();
  for (const p of ports) {
    checkIfName("port", p);
    if (seen.has(p)) throw invalid(`port ${p} is named twice`, "port");
    seen.add(p);
    if (holder(store, p)) throw conflict(`port ${p} is already plugged for another VIF`, "port");
  }
}
