/** Floating IPs with nova's semantics (floating_ips.py): pools, allocate, associate, release. */
import type { FloatingIp } from "../model.ts";
import { cidr4Overlaps, isIpv4, ip4ToNum, numToIp4, parseCidr4, type Cidr4 } from "../net/ip.ts";
import { checkIfName } from "../net/ifname.ts";
import { floatingRangeClash, type HostSubnet } from "../net/host-subnets.ts";
import { listNetworks } from "./networks.ts";
import type { Store } from "./db.ts";
import { conflict, invalid, notFound } from "../util/errors.ts";
import { getInstance, listVifs } from "./instance-rows.ts";

type Row = Record<string, unknown>;

export function floatingFromRow(r: Row): FloatingIp {
  return {
    address: r.address as string,
    pool: r.pool as string,
    interface: r.interface as string,
    projectId: r.project_id as string | null,
    instanceUuid: r.instance_uuid as string | null,
    fixedAddress: r.fixed_address as string | null,
    fixedNetworkId: r.fixed_network_id as string | null,
    host: r.host as string | null,
    autoAssigned: !!r.auto_assigned,
    origin: r.origin as string,
    hlc: r.hlc as string,
    deleted: !!r.deleted,
  };
}

/** Addresses of an `--ip_range`: one address, or a CIDR's host addresses (network/broadcast excluded). */
export function expandRange(range: string): number[] {
  if (isIpv4(range)) return [ip4ToNum(range)];
  let c: ReturnType<typeof parseCidr4>;
  try {
    c = parseCidr4(range);
  } catch {
    throw invalid(`--ip_range ${range} is not an IPv4 address or CIDR`, "ip_range");
  }
  if (c.size < 4)
    throw invalid(`--ip_range ${range} has fewer than 4 addresses; specify single addresses instead`, "ip_range");
  if (c.size >= 1_000_000) throw invalid(`--ip_range ${range} is too large (at most 1,000,000 addresses)`, "ip_range");
  return Array.from({ length: c.size - 2 }, (_, i) => c.base + 1 + i);
}

export function listFloatingIps(store: Store, opts: { host?: string } = {}): FloatingIp[] {
  const rows = opts.host
    ? store.db
        .query<Row, [string]>("SELECT * FROM floating_ips WHERE deleted = 0 AND host = ? ORDER BY address_num")
        .all(opts.host)
    : store.db.query<Row, []>("SELECT * FROM floating_ips WHERE deleted = 0 ORDER BY pool, address_num").all();
  return rows.map(floatingFromRow);
}

export function floatingOfInstance(store: Store, instanceUuid: string): FloatingIp[] {
  return store.db
    .query<Row, [string]>("SELECT * FROM floating_ips WHERE deleted = 0 AND instance_uuid = ? ORDER BY address_num")
    .all(instanceUuid)
    .map(floatingFromRow);
}

export function getFloatingIp(store: Store, address: string): FloatingIp {
  if (!isIpv4(address)) throw invalid(`${address} is not an IPv4 address`, "address");
  const r = store.db
    .query<Row, [string]>("SELECT * FROM floating_ips WHERE deleted = 0 AND address = ?")
    .get(numToIp4(ip4ToNum(address)));
  if (!r) throw notFound(`floating IP ${address}`, "address");
  return floatingFromRow(r);
}

function put(store: Store, f: FloatingIp): FloatingIp {
  const v = store.version();
  store.db
    .query(`INSERT INTO floating_ips (address, address_num, pool, interface, project_id, instance_uuid, fixed_address, fixed_network_id, host, auto_assigned, origin, hlc, deleted)
    VALUES (?,?,?,?,?,?,?,?,?,?,?,?,0) ON CONFLICT(address) DO UPDATE SET pool = excluded.pool, interface = excluded.interface, project_id = excluded.project_id,
    instance_uuid = excluded.instance_uuid, fixed_address = excluded.fixed_address, fixed_network_id = excluded.fixed_network_id, host = excluded.host,
    auto_assigned = excluded.auto_assigned, origin = excluded.origin, hlc = excluded.hlc, deleted = 0`)
    .run(
      f.address,
      ip4ToNum(f.address),
      f.pool,
      f.interface,
      f.projectId,
      f.instanceUuid,
      f.fixedAddress,
      f.fixedNetworkId,
      f.host,
      f.autoAssigned ? 1 : 0,
      v.origin,
      v.hlc,
    );
  store.changed("floating_ip", "put", f.address);
  return { ...f, ...v, deleted: false };
}

/** The CIDR an `--ip_range` spans (a single address is a /32). */
function rangeCidr(range: string): Cidr4 {
  return isIpv4(range) ? { base: ip4ToNum(range), prefix: 32, size: 1 } : parseCidr4(range);
}

/**
 * floating create: refused when the range overlaps a fixed network (its gateway and instances
 * would become floating IPs), another pool, another bridge's subnet on this host, or holds an
 * address in use on this host's subnets (its own, a gateway, a network or broadcast address).
 */
export function createFloatingRange(
  store: Store,
  pool: string,
  range: string,
  iface: string,
  hostSubnets: readonly HostSubnet[] = [],
): FloatingIp[] {
  if (!/^[A-Za-z0-9_.-]{1,255}$/.test(pool))
    throw invalid("pool name must be 1 to 255 of letters, digits, _ . -", "pool");
  checkIfName("interface", iface);
  const nums = expandRange(range);
  const span = rangeCidr(range);
  const clash = floatingRangeClash(span, iface, hostSubnets);
  if (clash) throw conflict(`--ip_range ${range} ${clash}`, "ip_range");
  return store.write(() => {
    const net = listNetworks(store).find((n) => n.cidr && cidr4Overlaps(parseCidr4(n.cidr), span));
    if (net) throw conflict(`--ip_range ${range} overlaps fixed network ${net.label} (${net.cidr})`, "ip_range");
    const dup = nums.find((n) =>
      store.db.query("SELECT 1 FROM floating_ips WHERE deleted = 0 AND address = ?").get(numToIp4(n)),
    );
    if (dup !== undefined) {
      const other = floatingFromRow(
        store.db
          .query<Row, [string]>("SELECT * FROM floating_ips WHERE deleted = 0 AND address = ?")
          .get(numToIp4(dup))!,
      );
      throw conflict(
        `--ip_range ${range} overlaps pool ${other.pool}: floating IP ${other.address} already exists`,
        "ip_range",
      );
    }
    return nums.map((n) =>
      put(store, {
        address: numToIp4(n),
        pool,
        interface: iface,
        projectId: null,
        instanceUuid: null,
        fixedAddress: null,
        fixedNetworkId: null,
        host: null,
        autoAssigned: false,
        origin: "",
        hlc: "",
        deleted: false,
      }),
    );
  });
}

export function deleteFloatingRange(store: Store, range: string): number {
  const nums = expandRange(range);
  return store.write(() => {
    let n = 0;
    for (const num of nums) {
      const r = store.db
        .query<Row, [string]>("SELECT * FROM floating_ips WHERE deleted = 0 AND address = ?")
        .get(numToIp4(num));
      if (!r) continue;
      if (r.instance_uuid)
        throw conflict(`floating IP ${r.address} is associated with an instance; disassociate it first`, "ip_range");
      const v = store.version();
      store.db
        .query("UPDATE floating_ips SET deleted = 1, origin = ?, hlc = ? WHERE address = ?")
        .run(v.origin, v.hlc, r.address as string);
      store.changed("floating_ip", "delete", r.address as string);
      n++;
    }
    if (n === 0) throw notFound(`floating IPs in ${range}`, "ip_range");
    return n;
  });
}

export function allocateFloatingIp(store: Store, pool: string, projectId: string, auto = false): FloatingIp {
  return store.write(() => {
    if (!store.db.query("SELECT 1 FROM floating_ips WHERE deleted = 0 AND pool = ?").get(pool))
      throw notFound(`floating IP pool ${pool}`, "pool");
    const r = store.db
      .query<Row, [string]>(
        "SELECT * FROM floating_ips WHERE deleted = 0 AND pool = ? AND project_id IS NULL AND fixed_address IS NULL ORDER BY address_num LIMIT 1",
      )
      .get(pool);
    if (!r) throw conflict(`no more floating IPs in pool ${pool}`, "pool");
    return put(store, { ...floatingFromRow(r), projectId, autoAssigned: auto });
  });
}

export function deallocateFloatingIp(store: Store, address: string): FloatingIp {
  return store.write(() => {
    const f = getFloatingIp(store, address);
    if (f.instanceUuid)
      throw conflict(`floating IP ${f.address} is associated with an instance; disassociate it first`, "address");
    return put(store, { ...f, projectId: null, host: null, autoAssigned: false });
  });
}

/** Attach to the instance's first IPv4 (or `fixedAddress`); served by the instance's host. */
export function associateFloatingIp(
  store: Store,
  instanceRef: string,
  address: string,
  fixedAddress?: string,
): FloatingIp {
  return store.write(() => {
    const inst = getInstance(store, instanceRef);
    const f = getFloatingIp(store, address);
    if (!f.projectId)
      throw conflict(`floating IP ${f.address} is not allocated to a project; run floating-ip-create first`, "address");
    const vifs = listVifs(store, { instanceUuid: inst.uuid }).filter((v) => v.address);
    const vif = fixedAddress ? vifs.find((v) => v.address === fixedAddress) : vifs[0];
    if (!vif)
      throw invalid(
        fixedAddress
          ? `instance ${inst.name} has no fixed IP ${fixedAddress}`
          : `instance ${inst.name} has no IPv4 address`,
        "fixed_address",
      );
    if (f.instanceUuid === inst.uuid && f.fixedAddress === vif.address) return f;
    return put(store, {
      ...f,
      instanceUuid: inst.uuid,
      fixedAddress: vif.address,
      fixedNetworkId: vif.networkId,
      host: inst.host,
    });
  });
}

export function disassociateFloatingIp(store: Store, address: string): FloatingIp {
  return store.write(() => {
    const f = getFloatingIp(store, address);
    if (!f.instanceUuid) throw conflict(`floating IP ${f.address} is not associated`, "address");
    return put(store, { ...f, instanceUuid: null, fixedAddress: null, fixedNetworkId: null, host: null });
  });
}

/** On instance delete: disassociate its floating IPs and release the auto-assigned ones. */
export function releaseInstanceFloating(store: Store, instanceUuid: string): void {
  const rows = store.db
    .query<Row, [string]>("SELECT * FROM floating_ips WHERE deleted = 0 AND instance_uuid = ?")
    .all(instanceUuid)
    .map(floatingFromRow);
  for (const f of rows) {
    put(store, {
      ...f,
      instanceUuid: null,
      fixedAddress: null,
      fixedNetworkId: null,
      host: null,
      projectId: f.autoAssigned ? null : f.projectId,
      autoAssigned: false,
    });
  }
}

/** auto_assign_floating_ip: a floating IP from `pool`, flagged auto-assigned, on the instance's first fixed IP. */
export function autoAssignFloatingIp(store: Store, instanceUuid: string, pool: string, projectId: string): FloatingIp {
  return store.write(() => {
    const f = allocateFloatingIp(store, pool, projectId, true);
    return associateFloatingIp(store, instanceUuid, f.address);
  });
}
