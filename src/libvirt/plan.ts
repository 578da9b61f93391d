/**
 * The libvirt hook's decisions, without I/O: given the hook's operation, the domain and what the
 * agent holds (networks, the instance with the domain's uuid), the admin API calls to make.
 *
 *   prepare/start/restore       register or update the instance, so its addresses exist before
 *                               the guest's first DHCP packet
 *   started/reconnect/attach    the same, then declare each tap as its VIF's port (plug)
 *   stopped/release             unplug; the instance keeps its addresses (nova's stopped state)
 *   migrate                     (on the target host) the instance's home moves here; the old
 *                               host withdraws its port, rules and floating IPs
 *
 * The domain definition is the truth: what its interfaces and netlet metadata say is what the
 * instance becomes at every start.
 */
import { HookError, type Domain, type DomainInterface } from "./domain.ts";

export interface NetworkView {
  id: string;
  label: string;
  bridge: string;
  projectId: string | null;
}
export interface InstanceView {
  uuid: string;
  name: string;
  projectId: string;
  /** The host the instance lives on (its home). */
  host?: string;
  ports: { mac: string; networkId: string; address: string | null; port?: string | null }[];
}
export interface ApiCall {
  method: "POST" | "PATCH" | "DELETE";
  path: string;
  body?: Record<string, unknown>;
  /** A 404 or 409 answer is fine: the instance is gone, or its port is already unplugged. */
  allowMissing?: boolean;
}

export const REGISTER_OPS = new Set(["prepare", "start", "restore"]);
export const PLUG_OPS = new Set(["started", "reconnect", "attach"]);
export const UNPLUG_OPS = new Set(["stopped", "release"]);
export const MIGRATE_OPS = new Set(["migrate"]);

/** One netlet VIF of the domain: the interface and the network it is on. */
export interface Attachment {
  iface: DomainInterface;
  network: NetworkView;
  fixedIp: string | null;
}

/** Interfaces on a bridge of some netlet network: the only ones netlet acts on. */
export function netletInterfaces(dom: Domain, networks: NetworkView[]): DomainInterface[] {
  const bridges = new Set(networks.map((n) => n.bridge));
  return dom.interfaces.filter(
    (i) => (i.type === "bridge" || i.type === "network") && i.bridge !== null && bridges.has(i.bridge),
  );
}

/** Pair each netlet interface with its network: `<netlet:network>` elements in order, else the bridge's only network. */
export function attachments(dom: Domain, networks: NetworkView[], project: string): Attachment[] {
  const ifaces = netletInterfaces(dom, networks);
  const wanted = dom.metadata?.networks ?? [];
  const bad = (msg: string) => new HookError(`domain ${dom.name}: ${msg}`);
  if (wanted.length > ifaces.length) {
    throw bad(
      `netlet metadata names ${wanted.length} network(s) but only ${ifaces.length} interface(s) are on a netlet bridge (${[...new Set(networks.map((n) => n.bridge))].join(", ") || "none"})`,
    );
  }
  return ifaces.map((iface, i) => {
    if (!iface.mac) throw bad(`interface on ${iface.bridge} has no <mac address>`);
    const w = wanted[i];
    if (w) {
      const net = networks.find((n) => n.id === w.label) ?? networks.find((n) => n.label === w.label);
      if (!net) throw bad(`netlet metadata: <network label='${w.label}'>: no such network`);
      if (net.bridge !== iface.bridge)
        throw bad(
          `netlet metadata: network ${net.label} is on bridge ${net.bridge}, but interface ${i + 1} (${iface.mac}) is on ${iface.bridge}`,
        );
      return { iface, network: net, fixedIp: w.fixedIp };
    }
    const on = networks.filter((n) => n.bridge === iface.bridge && (n.projectId === null || n.projectId === project));
    if (on.length === 0) throw bad(`bridge ${iface.bridge} carries no network of project ${project}`);
    if (on.length > 1)
      throw bad(
        `bridge ${iface.bridge} carries networks ${on.map((n) => n.label).join(", ")}: name one with <netlet:network label='…'/> in the domain's netlet metadata`,
      );
    return { iface, network: on[0], fixedIp: null };
  });
}

/** The project: the metadata's, else the registered instance's (a `netlet boot --project-id`), else admin. */
const projectOf = (dom: Domain, inst: InstanceView | null) => dom.metadata?.project ?? inst?.projectId ?? "admin";

function bootBody(dom: Domain, atts: Attachment[], project: string): Record<string, unknown> {
  const m = dom.metadata;
  return {
    uuid: dom.uuid,
    name: dom.name,
    networks: atts.map((a) => a.network.id),
    macs: atts.map((a) => a.iface.mac),
    fixed_ips: atts.some((a) => a.fixedIp) ? atts.map((a) => a.fixedIp ?? "") : [],
    key_name: m?.keyName ?? null,
    key_data: m?.keyData ?? null,
    user_data: m?.userData ?? null,
    meta: m?.meta ?? {},
    security_groups: m?.securityGroups ?? [],
    project_id: project,
  };
}

/**
 * What a start changes on an existing instance: its name, and what the netlet metadata states.
 * Absent elements leave the stored values alone (user data given to `netlet boot` survives a
 * domain whose metadata does not repeat it).
 */
function patchBody(dom: Domain): Record<string, unknown> {
  const m = dom.metadata;
  const b: Record<string, unknown> = { name: dom.name };
  if (!m) return b;
  if (m.keyName || m.keyData) Object.assign(b, { key_name: m.keyName, key_data: m.keyData });
  if (m.userData !== null) b.user_data = m.userData;
  if (Object.keys(m.meta).length) b.meta = m.meta;
  if (m.securityGroups.length) b.security_groups = m.securityGroups;
  return b;
}

/** Register the instance, or bring the existing one in line with the domain. */
export function planRegister(dom: Domain, networks: NetworkView[], inst: InstanceView | null): ApiCall[] {
  const project = projectOf(dom, inst);
  const atts = attachments(dom, networks, project);
  if (atts.length === 0) {
    if (dom.metadata)
      throw new HookError(
        `domain ${dom.name}: has netlet metadata but no interface on a netlet bridge (${[...new Set(networks.map((n) => n.bridge))].join(", ") || "no network exists"})`,
      );
    // Moved off netlet's bridges: the instance goes, as nova's would when its last port went.
    return inst ? [{ method: "DELETE", path: `/v1/instances/${inst.uuid}` }] : [];
  }
  const boot = bootBody(dom, atts, project);
  if (!inst) return [{ method: "POST", path: "/v1/instances", body: boot }];
  const have = inst.ports
    .map((p) => `${p.mac}/${p.networkId}`)
    .sort()
    .join(",");
  const want = atts
    .map((a) => `${a.iface.mac}/${a.network.id}`)
    .sort()
    .join(",");
  const fixedMoved = atts.some(
    (a) => a.fixedIp && !inst.ports.some((p) => p.mac === a.iface.mac && p.address === a.fixedIp),
  );
  if (have !== want || inst.projectId !== boot.project_id || fixedMoved) {
    // Interfaces, project or a fixed IP changed while the domain was off: register it anew.
    return [
      { method: "DELETE", path: `/v1/instances/${inst.uuid}` },
      { method: "POST", path: "/v1/instances", body: boot },
    ];
  }
  return [{ method: "PATCH", path: `/v1/instances/${inst.uuid}`, body: patchBody(dom) }];
}

export function planPlug(dom: Domain, networks: NetworkView[], inst: InstanceView | null): ApiCall[] {
  return attachments(dom, networks, projectOf(dom, inst)).map(({ iface }) => {
    if (!iface.target)
      throw new HookError(
        `domain ${dom.name}: interface ${iface.mac} has no <target dev> in the live XML; cannot declare its port`,
      );
    return { method: "POST", path: `/v1/instances/${dom.uuid}/plug`, body: { port: iface.target, mac: iface.mac } };
  });
}

/**
 * An incoming migration: the instance moves here (its VIFs, leases and floating IPs are written
 * under this host's name). A domain netlet never saw is registered as at prepare.
 */
export function planMigrate(dom: Domain, networks: NetworkView[], inst: InstanceView | null, self: string): ApiCall[] {
  if (!inst) return planRegister(dom, networks, inst);
  if (inst.host === self) return [];
  return [{ method: "POST", path: `/v1/instances/${inst.uuid}/migrate`, body: { to_host: self } }];
}

export function planUnplug(
  dom: Domain,
  networks: NetworkView[],
  inst: InstanceView | null,
  self: string | null = null,
): ApiCall[] {
  // Migrated away: the new home owns its ports; this host withdrew its own when the move arrived.
  if (!inst || (self !== null && inst.host !== undefined && inst.host !== self)) return [];
  const macs = new Set(inst.ports.map((p) => p.mac));
  return netletInterfaces(dom, networks)
    .filter((i) => i.mac && macs.has(i.mac))
    .map((i) => ({
      method: "POST" as const,
      path: `/v1/instances/${dom.uuid}/unplug`,
      body: i.target ? { port: i.target } : {},
      allowMissing: true,
    }));
}

/** The whole plan for one hook invocation. */
export function planHook(
  op: string,
  dom: Domain,
  networks: NetworkView[],
  inst: InstanceView | null,
  self: string | null = null,
): ApiCall[] {
  // At prepare a `type='network'` interface names only its libvirt network; libvirt resolves it
  // to a bridge before `start` (still before the guest runs), so registration waits for that.
  if (op === "prepare" && dom.interfaces.some((i) => i.type === "network" && !i.bridge)) return [];
  if (REGISTER_OPS.has(op)) return planRegister(dom, networks, inst);
  // A domain that started before the hook was installed, or while the agent was down, is
  // registered here at the latest.
  if (PLUG_OPS.has(op)) return [...planRegister(dom, networks, inst), ...planPlug(dom, networks, inst)];
  if (UNPLUG_OPS.has(op)) return planUnplug(dom, networks, inst, self);
  if (MIGRATE_OPS.has(op) && self !== null) return planMigrate(dom, networks, inst, self);
  return [];
}
