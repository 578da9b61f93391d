/**
 * The metadata service's MetadataSource over the store: indexed lookups only (vif by address
 * and network, instance by uuid), so a request that misses the cache costs a few point queries.
 */
import type { InstanceView, MetadataSource, SetPasswordResult } from "../metadata/source.ts";
import { canonicalIp } from "../metadata/source.ts";
import type { Store } from "../store/db.ts";
import { getInstance, listVifs, setInstancePassword, vifFromRow } from "../store/instances.ts";
import { getNetwork } from "../store/networks.ts";
import { floatingOfInstance } from "../store/floating.ts";
import { listKeypairs } from "../store/keypairs.ts";
import { isDomainError } from "../util/errors.ts";

export class StoreMetadataSource implements MetadataSource {
  constructor(readonly store: Store) {}

  resolve(sourceIp: string, networkId: string | null): InstanceView | null {
    const ip = canonicalIp(sourceIp);
    if (!ip) return null;
    const column = ip.includes(":") ? "address_v6" : "address";
    const rows = this.store.db
      .query<Record<string, unknown>, [string]>(`SELECT * FROM vifs WHERE deleted = 0 AND ${column} = ?`)
      .all(ip)
      .map(vifFromRow)
      .filter((v) => networkId === null || v.networkId === networkId);
    const uuids = new Set(rows.map((v) => v.instanceUuid));
    // Two instances on two networks may share an address: without the network it is ambiguous.
    if (uuids.size !== 1) return null;
    return this.byUuid([...uuids][0]);
  }

  byUuid(uuid: string): InstanceView | null {
    let instance: ReturnType<typeof getInstance>;
    try {
      instance = getInstance(this.store, uuid);
    } catch (err) {
      if (isDomainError(err)) return null;
      throw err;
    }
    if (instance.uuid !== uuid) return null;
    const vifs = listVifs(this.store, { instanceUuid: uuid }).map((vif) => ({
      vif,
      network: getNetwork(this.store, vif.networkId),
    }));
    const floatingIps = floatingOfInstance(this.store, uuid).map((f) => f.address);
    const keypairs = instance.keyName ? listKeypairs(this.store).filter((k) => k.name === instance.keyName) : [];
    return { instance, vifs, floatingIps, keypairs, securityGroups: instance.securityGroups };
  }

  setPassword(uuid: string, password: string): SetPasswordResult {
    try {
      return setInstancePassword(this.store, uuid, password) ? "stored" : "exists";
    } catch (err) {
      if (isDomainError(err, "not-found")) return "not_found";
      throw err;
    }
  }
}
