/**
 * Fixed IPs with nova's lifecycle: least-recently-used allocation, a requested specific address,
 * reserve/unreserve that only flip the flag, and the per-host gateway/DHCP address of multi_host
 * networks. Must be called inside store.write() when it changes rows.
 */
import type { FixedIp } from "../model.ts";
import { isIpv4, normalizeIp } from "../net/ip.ts";
import type { Store } from "./db.ts";
import { conflict, invalid, notFound } from "../util/errors.ts";

type Row = Record<string, unknown>;

function fromRow(r: Row): FixedIp {
  return {
    networkId: r.network_id as string,
    address: r.address as string,
    reserved: !!r.reserved,
    allocated: !!r.allocated,
    leased: !!r.leased,
    instanceUuid: r.instance_uuid as string | null,
    vifId: r.vif_id as string | null,
    host: r.host as string | null,
    updatedAt: r.updated_at as number,
  };
}

/** The fixed-IP row of `address` (in `networkId` when given). */
export function getFixedIp(store: Store, address: string, networkId?: string): FixedIp {
  if (!isIpv4(address)) throw invalid(`--address ${address} is not an IPv4 address`, "address");
  const a = normalizeIp(address);
  const r = networkId
    ? store.db
        .query<Row, [string, string]>("SELECT * FROM fixed_ips WHERE network_id = ? AND address = ?")
        .get(networkId, a)
    : store.db.query<Row, [string]>("SELECT * FROM fixed_ips WHERE address = ? LIMIT 1").get(a);
  if (!r) throw notFound(`fixed IP ${address}`, "address");
  return fromRow(r);
}

/** `host`: addresses the host claimed itself; `onHost`: those and its instances' (nova-manage's `fixed list --host`). */
export function listFixedIps(
  store: Store,
  opts: { networkId?: string; host?: string; onHost?: string } = {},
): FixedIp[] {
  const where: string[] = [];
  const args: string[] = [];
  if (opts.networkId) {
    where.push("network_id = ?");
    args.push(opts.networkId);
  }
  if (opts.host) {
    where.push("host = ?");
    args.push(opts.host);
  }
  if (opts.onHost) {
    where.push("(host = ? OR instance_uuid IN (SELECT uuid FROM instances WHERE deleted = 0 AND host = ?))");
    args.push(opts.onHost, opts.onHost);
  }
  const sql = `SELECT * FROM fixed_ips ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY network_id, address_num`;
  return store.db
    .query<Row, string[]>(sql)
    .all(...args)
    .map(fromRow);
}

/** `fixed reserve|unreserve`: flips the flag only; an address in use stays with its instance. */
export function setReserved(store: Store, address: string, reserved: boolean): FixedIp {
  return store.write(() => {
    const ip = getFixedIp(store, address);
    store.db
      .query("UPDATE fixed_ips SET reserved = ?, updated_at = ? WHERE network_id = ? AND address = ?")
      .run(reserved ? 1 : 0, store.now(), ip.networkId, ip.address);
    store.changed("fixed_ip", "put", `${ip.networkId}/${ip.address}`);
    return { ...ip, reserved };
  });
}

/**
 * Take an address for a VIF: the requested one (must be free and unreserved) or the least
 * recently used free one. The partial index `fixed_ips_free` makes this O(log n).
 */
export function allocateFixedIp(
  store: Store,
  networkId: string,
  owner: { instanceUuid: string; vifId: string },
  requested?: string,
): string {
  let address: string;
  if (requested) {
    const ip = getFixedIp(store, requested, networkId);
    if (ip.reserved) throw conflict(`fixed IP ${requested} is reserved`, "address");
    if (ip.instanceUuid || ip.host || ip.leased) throw conflict(`fixed IP ${requested} is already in use`, "address");
    address = ip.address;
  } else {
    const r = store.db
      .query<{ address: string }, [string]>(
        `SELECT address FROM fixed_ips WHERE network_id = ? AND instance_uuid IS NULL AND reserved = 0 AND leased = 0 AND host IS NULL
       ORDER BY updated_at, address_num LIMIT 1`,
      )
      .get(networkId);
    if (!r) throw conflict("no more fixed IPs in this network", "network");
    address = r.address;
  }
  store.db
    .query(
      "UPDATE fixed_ips SET instance_uuid = ?, vif_id = ?, allocated = 1, updated_at = ? WHERE network_id = ? AND address = ?",
    )
    .run(owner.instanceUuid, owner.vifId, store.now(), networkId, address);
  store.changed("fixed_ip", "put", `${networkId}/${address}`);
  return address;
}

/** Return an instance's addresses to the pool (updated_at makes them least-recently-used last). */
export function releaseInstanceIps(store: Store, instanceUuid: string): void {
  const rows = store.db.query<Row, [string]>("SELECT * FROM fixed_ips WHERE instance_uuid = ?").all(instanceUuid);
  store.db
    .query(
      "UPDATE fixed_ips SET instance_uuid = NULL, vif_id = NULL, allocated = 0, leased = 0, updated_at = ? WHERE instance_uuid = ?",
    )
    .run(store.now(), instanceUuid);
  for (const r of rows) store.changed("fixed_ip", "put", `${r.network_id}/${r.address}`);
}

/**
 * multi_host: the address this host uses on the network's bridge and hands out as router and
 * DHCP server. Claimed once from the pool (nova `host` column); with share_address every host
 * uses the network's own DHCP server address.
 */
export function hostAddress(
  store: Store,
  networkId: string,
  host: string,
  share: boolean,
  sharedAddress: string | null,
): string | null {
  if (share) return sharedAddress;
  const have = store.db
    .query<{ address: string }, [string, string]>(
      "SELECT address FROM fixed_ips WHERE network_id = ? AND host = ? LIMIT 1",
    )
    .get(networkId, host);
  if (have) return have.address;
  const r = store.db
    .query<{ address: string }, [string]>(
      `SELECT address FROM fixed_ips WHERE network_id = ? AND instance_uuid IS NULL AND reserved = 0 AND leased = 0 AND host IS NULL
     ORDER BY address_num LIMIT 1`,
    )
    .get(networkId);
  if (!r) throw conflict("no free fixed IP left for this host's gateway address", "network");
  store.db
    .query("UPDATE fixed_ips SET host = ?, updated_at = ? WHERE network_id = ? AND address = ?")
    .run(host, store.now(), networkId, r.address);
  store.changed("fixed_ip", "put", `${networkId}/${r.address}`);
  return r.address;
}

/** This host's claimed address on a network, without claiming one. */
export function findHostAddress(store: Store, networkId: string, host: string): string | null {
  return (
    store.db
      .query<{ address: string }, [string, string]>(
        "SELECT address FROM fixed_ips WHERE network_id = ? AND host = ? LIMIT 1",
      )
      .get(networkId, host)?.address ?? null
  );
}

/** Record an address the cluster allocated to this host as its gateway/DHCP address on a network. */
export function claimHostAddress(store: Store, networkId: string, host: string, address: string): void {
  store.write(() => {
    const ip = getFixedIp(store, address, networkId);
    if (ip.instanceUuid || (ip.host && ip.host !== host))
      throw conflict(`fixed IP ${address} is already in use`, "address");
    store.db
      .query("UPDATE fixed_ips SET host = ?, updated_at = ? WHERE network_id = ? AND address = ?")
      .run(host, store.now(), networkId, ip.address);
    store.changed("fixed_ip", "put", `${networkId}/${ip.address}`);
  });
}
