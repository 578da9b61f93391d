/** Networks: create (with their fixed-IP rows), read, delete. */
import type { Network } from "../model.ts";
import { planNetworks, reservedOf, type NetworkCreateParams } from "../net/network-plan.ts";
import { numToIp4, parseCidr4 } from "../net/ip.ts";
import { hostClash4, hostClash6, type HostSubnet } from "../net/host-subnets.ts";
import type { Store } from "./db.ts";
import { DomainError, conflict, notFound } from "../util/errors.ts";

type Row = Record<string, unknown>;

export function networkFromRow(r: Row): Network {
  return {
    id: r.id as string,
    label: r.label as string,
    cidr: r.cidr as string | null,
    cidrV6: r.cidr_v6 as string | null,
    fixedCidr: r.fixed_cidr as string | null,
    netmask: r.netmask as string | null,
    broadcast: r.broadcast as string | null,
    gateway: r.gateway as string | null,
    gatewayV6: r.gateway_v6 as string | null,
    dhcpServer: r.dhcp_server as string | null,
    dhcpStart: r.dhcp_start as string | null,
    bridge: r.bridge as string,
    bridgeInterface: r.bridge_interface as string | null,
    vlan: r.vlan as number | null,
    vxlan: r.vxlan as number | null,
    dns1: r.dns1 as string | null,
    dns2: r.dns2 as string | null,
    mtu: r.mtu as number | null,
    multiHost: !!r.multi_host,
    projectId: r.project_id as string | null,
    enableDhcp: !!r.enable_dhcp,
    shareAddress: !!r.share_address,
    allowedStart: r.allowed_start as string | null,
    allowedEnd: r.allowed_end as string | null,
    vpnPrivateAddress: r.vpn_private_address as string | null,
    priority: r.priority as number | null,
    host: (r.host ?? null) as string | null,
    createdAt: r.created_at as number,
    origin: r.origin as string,
    hlc: r.hlc as string,
    deleted: !!r.deleted,
  };
}

export function listNetworks(store: Store): Network[] {
  return store.db
    .query<Row, []>("SELECT * FROM networks WHERE deleted = 0 ORDER BY created_at, label")
    .all()
    .map(networkFromRow);
}

/** Find a network by id or label (the CLI accepts either). */
export function getNetwork(store: Store, ref: string, field = "network"): Network {
  const r = store.db
    .query<Row, [string, string]>(
      "SELECT * FROM networks WHERE deleted = 0 AND (id = ? OR label = ?) ORDER BY created_at LIMIT 1",
    )
    .get(ref, ref);
  if (!r) throw notFound(`network ${ref}`, field);
  return networkFromRow(r);
}

const INSERT_NETWORK = `INSERT INTO networks (id, label, cidr, cidr_v6, fixed_cidr, netmask, broadcast, gateway, gateway_v6,
  dhcp_server, dhcp_start, bridge, bridge_interface, vlan, vxlan, dns1, dns2, mtu, multi_host, project_id, enable_dhcp,
  share_address, allowed_start, allowed_end, vpn_private_address, priority, created_at, origin, hlc, deleted)
  VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0)`;

/**
 * Create the networks of one network-create. `hostSubnets` are this host's own interface
 * subnets: a fixed network on top of one would hand out addresses that are already in use.
 */
export function createNetworks(
  store: Store,
  p: NetworkCreateParams,
  hostSubnets: readonly HostSubnet[] = [],
): Network[] {
  return store.write(() => {
    const existing = listNetworks(store);
    if (existing.some((n) => n.label === p.label))
      throw conflict(`a network labelled ${p.label} already exists`, "label");
    const plans = planNetworks(p, existing);
    for (const plan of plans) refuseTakenRanges(store, plan, hostSubnets);
    const insNet = store.db.query(INSERT_NETWORK);
    const ids: string[] = [];
    for (const plan of plans) {
      const id = crypto.randomUUID();
      const v = store.version();
      insNet.run(
        id,
        plan.label,
        plan.cidr,
        plan.cidrV6,
        plan.fixedCidr,
        plan.netmask,
        plan.broadcast,
        plan.gateway,
        plan.gatewayV6,
        plan.dhcpServer,
        plan.dhcpStart,
        p.bridge,
        p.bridgeInterface,
        plan.vlan,
        p.vxlan,
        p.dns1,
        p.dns2,
        p.mtu,
        p.multiHost ? 1 : 0,
        p.projectId,
        p.enableDhcp ? 1 : 0,
        p.shareAddress ? 1 : 0,
        p.allowedStart,
        p.allowedEnd,
        plan.vpnPrivateAddress,
        null,
        store.now(),
        v.origin,
        v.hlc,
      );
      insertFixedIps(store, id, plan.fixedFirst, plan.fixedLast, plan.reserved);
      store.changed("network", "put", id);
      ids.push(id);
    }
    return ids.map((id) => getNetwork(store, id));
  });
}

function refuseTakenRanges(
  store: Store,
  plan: { cidr: string | null; cidrV6: string | null },
  hosts: readonly HostSubnet[],
): void {
  if (plan.cidr) {
    const c = parseCidr4(plan.cidr);
    const host = hostClash4(c, hosts);
    if (host)
      throw conflict(
        `--fixed-range-v4 ${plan.cidr} overlaps this host's subnet ${host.cidr} on ${host.iface}`,
        "fixed_range_v4",
      );
    const f = store.db
      .query<{ address: string }, [number, number]>(
        "SELECT address FROM floating_ips WHERE deleted = 0 AND address_num BETWEEN ? AND ? LIMIT 1",
      )
      .get(c.base, c.base + c.size - 1);
    if (f) throw conflict(`--fixed-range-v4 ${plan.cidr} contains floating IP ${f.address}`, "fixed_range_v4");
  }
  const host6 = plan.cidrV6 ? hostClash6(plan.cidrV6, hosts) : undefined;
  if (host6)
    throw conflict(
      `--fixed-range-v6 ${plan.cidrV6} overlaps this host's subnet ${host6.cidr} on ${host6.iface}`,
      "fixed_range_v6",
    );
}

function insertFixedIps(
  store: Store,
  networkId: string,
  first: number,
  last: number,
  reserved: (n: number) => boolean,
): void {
  const ins = store.db.query(
    "INSERT OR IGNORE INTO fixed_ips (network_id, address, address_num, reserved) VALUES (?, ?, ?, ?)",
  );
  for (let n = first; n <= last; n++) ins.run(networkId, numToIp4(n), n, reserved(n) ? 1 : 0);
}

/** The fixed-IP rows of a network that arrived from a peer, derived from its own fields. */
export function materializeFixedIps(store: Store, net: Network): void {
  if (!net.fixedCidr) return;
  const c = parseCidr4(net.fixedCidr);
  insertFixedIps(store, net.id, c.base, c.base + c.size - 1, reservedOf(net));
}

/** Delete a network; refused while instances still have interfaces on it. */
export function deleteNetwork(store: Store, ref: string): Network {
  return store.write(() => {
    const net = getNetwork(store, ref);
    const inUse = store.db
      .query<{ n: number }, [string]>("SELECT count(*) AS n FROM vifs WHERE network_id = ? AND deleted = 0")
      .get(net.id)!.n;
    if (inUse > 0)
      throw conflict(
        `network ${net.label} still has ${inUse} instance interface(s); delete those instances first`,
        "network",
      );
    const v = store.version();
    store.db.query("UPDATE networks SET deleted = 1, origin = ?, hlc = ? WHERE id = ?").run(v.origin, v.hlc, net.id);
    store.db.query("DELETE FROM fixed_ips WHERE network_id = ?").run(net.id);
    store.changed("network", "delete", net.id);
    return net;
  });
}

/**
 * nova network-disassociate: the network loses its project (every project sees it) and its host;
 * `what` limits it to one of them (nova's --project-only, --host-only).
 */
export function disassociateNetwork(
  store: Store,
  ref: string,
  what: { project: boolean; host: boolean } = { project: true, host: true },
): Network {
  return store.write(() => {
    const n = getNetwork(store, ref);
    const project = what.project && n.projectId !== null;
    const host = what.host && n.host !== null;
    if (!project && !host) {
      const from = what.project && what.host ? "a project or a host" : what.project ? "a project" : "a host";
      throw conflict(`network ${n.label} is not associated with ${from}`, "network");
    }
    const v = store.version();
    store.db
      .query("UPDATE networks SET project_id = ?, host = ?, origin = ?, hlc = ? WHERE id = ?")
      .run(project ? null : n.projectId, host ? null : n.host, v.origin, v.hlc, n.id);
    store.changed("network", "put", n.id);
    return getNetwork(store, n.id);
  });
}

/**
 * nova network-associate-host: a network that is not multi_host gets the one host that serves it.
 * `hosts` are the hosts this node knows (its own id and the cluster's registered hosts).
 */
export function associateHost(store: Store, ref: string, host: string, hosts: readonly string[]): Network {
  return store.write(() => {
    const n = getNetwork(store, ref);
    if (n.multiHost)
      throw conflict(
        `network ${n.label} is multi_host: every host serves its own instances; network-associate-host is for a network created with --multi-host F`,
        "network",
      );
    if (!hosts.includes(host)) {
      const known = [...new Set(hosts)].sort();
      const shown =
        known.length > 10 ? `${known.slice(0, 10).join(", ")}, … (${known.length} in all)` : known.join(", ");
      throw new DomainError("not-found", `host ${host} not found; known hosts: ${shown}`, "host");
    }
    if (n.host === host) return n;
    const v = store.version();
    store.db.query("UPDATE networks SET host = ?, origin = ?, hlc = ? WHERE id = ?").run(host, v.origin, v.hlc, n.id);
    store.changed("network", "put", n.id);
    return getNetwork(store, n.id);
  });
}

/** `project scrub`: networks of the project lose their project (nova also cleared host). */
export function disassociateProject(store: Store, projectId: string): Network[] {
  const nets = listNetworks(store).filter((n) => n.projectId === projectId);
  for (const n of nets) {
    const v = store.version();
    store.db
      .query("UPDATE networks SET project_id = NULL, origin = ?, hlc = ? WHERE id = ?")
      .run(v.origin, v.hlc, n.id);
    store.changed("network", "put", n.id);
  }
  return nets;
}
