/**
 * The seam between the metadata service and the store. The app never touches SQLite: the
 * composition root hands it a `MetadataSource` backed by the store, tests and the benchmark use
 * `MemorySource` below. Every method must be cheap and synchronous (indexed lookups), because
 * the app calls `resolve` on every request whose answer is not already cached.
 */
import ipaddr from "ipaddr.js";
import type { Instance, Keypair, Network, Vif } from "../model.ts";
import { BoundedCache } from "../util/bounded-cache.ts";

/** One NIC of the instance together with the network it is plugged into. */
export interface VifView {
  vif: Vif;
  network: Network;
}

/** Everything the metadata documents are rendered from, for one instance. */
export interface InstanceView {
  instance: Instance;
  /** The instance's NICs; rendered in `vif.index` order. */
  vifs: VifView[];
  /** Floating addresses associated with the instance; the first is EC2 `public-ipv4`. */
  floatingIps: string[];
  /** Keypair records named by `instance.keyName` (for the `keys` list of meta_data.json). */
  keypairs: Keypair[];
  /** Security group names (EC2 `security-groups`). */
  securityGroups: string[];
  /** Image the instance booted from (EC2 `ami-id`, vendordata `image-id`); optional. */
  imageId?: string | null;
  kernelId?: string | null;
  ramdiskId?: string | null;
  /** e.g. "/dev/vda"; without it EC2 block-device-mapping is nova's fixed default. */
  rootDeviceName?: string | null;
}

export type SetPasswordResult = "stored" | "exists" | "not_found";

export interface MetadataSource {
  /**
   * The instance owning `sourceIp` on `networkId` (the network the request arrived from), or
   * on any network when `networkId` is null. Two instances on two networks may share an
   * address: with `networkId` null and more than one match, return null (ambiguous).
   */
  resolve(sourceIp: string, networkId: string | null): InstanceView | null;
  /** By uuid, for the neutron-style proxy mode (X-Instance-ID). */
  byUuid(uuid: string): InstanceView | null;
  /** Store the password once; "exists" when one is already stored (checked in the store). */
  setPassword(uuid: string, password: string): SetPasswordResult;
}

/** Parsing with ipaddr.js costs microseconds and peers repeat: remember recent answers. */
const canonical = new BoundedCache<string, string | null>(65536);

/** Canonical text of an address (IPv4-mapped IPv6 becomes IPv4); null when not an address. */
export function canonicalIp(text: string | null | undefined): string | null {
  if (!text || text.length > 64) return null;
  let out = canonical.get(text);
  if (out !== undefined) return out;
  out = ipaddr.isValid(text) ? ipaddr.process(text).toString() : null;
  canonical.set(text, out);
  return out;
}

/**
 * In-memory source for tests and the benchmark. `put` replaces an instance's view; addresses
 * are indexed from its VIFs (v4 and v6) and floating IPs are not (guests reach the metadata
 * service from their fixed address).
 */
export class MemorySource implements MetadataSource {
  readonly #views = new Map<string, InstanceView>();

  put(view: InstanceView): void {
    this.#views.set(view.instance.uuid, view);
  }

  delete(uuid: string): void {
    this.#views.delete(uuid);
  }

  resolve(sourceIp: string, networkId: string | null): InstanceView | null {
    const ip = canonicalIp(sourceIp);
    if (!ip) return null;
    const found: InstanceView[] = [];
    for (const view of this.#views.values()) {
      const hit = view.vifs.some(
        ({ vif }) =>
          (networkId === null || vif.networkId === networkId) &&
          (canonicalIp(vif.address) === ip || canonicalIp(vif.addressV6) === ip),
      );
      if (hit) found.push(view);
    }
    return found.length === 1 ? found[0] : null;
  }

  byUuid(uuid: string): InstanceView | null {
    return this.#views.get(uuid) ?? null;
  }

  setPassword(uuid: string, password: string): SetPasswordResult {
    const view = this.#views.get(uuid);
    if (!view) return "not_found";
    if (view.instance.password) return "exists";
    this.put({ ...view, instance: { ...view.instance, password } });
    return "stored";
  }
}
