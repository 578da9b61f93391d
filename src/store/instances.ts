/**
 * Instances and their VIFs. `bootInstance` registers an instance on this host and allocates one
 * port per requested network (MAC, fixed IP, EUI-64 IPv6) in one transaction.
 */
import type { Instance } from "../model.ts";
import { eui64 } from "../net/eui64.ts";
import { isMac, normalizeMac, randomMac } from "../net/mac.ts";
import type { Store } from "./db.ts";
import { conflict, invalid } from "../util/errors.ts";
import { allocateFixedIp, hostAddress, releaseInstanceIps } from "./fixed-ips.ts";
import { getNetwork, listNetworks } from "./networks.ts";
import { getKeypair, parsePublicKey } from "./keypairs.ts";
import { ensureDefaultGroup, getSecurityGroupByName } from "./secgroups.ts";
import { releaseInstanceFloating } from "./floating.ts";
import { getInstance, listVifs } from "./instance-rows.ts";

export { getInstance, instanceFromRow, listInstances, listVifs, vifFromRow } from "./instance-rows.ts";

/** nova's limit on user data (the column was MEDIUMTEXT but the API capped it at 64 KiB). */
export const MAX_USER_DATA = 65535;

export interface BootParams {
  /** The instance's uuid when the hypervisor already named it (a libvirt domain's uuid); else a new one. */
  uuid?: string;
  name: string;
  networks: string[];
  macs: string[];
  /** Addresses asked for (or agreed by the cluster's IPAM), by position; undefined: the table picks. */
  fixedIps: readonly (string | undefined)[];
  keyName: string | null;
  /** An OpenSSH public key given inline (served under `keyName`, default the instance's name). */
  keyData?: string | null;
  userData: Uint8Array | null;
  meta: Record<string, string>;
  securityGroups: string[];
  availabilityZone: string;
  flavor: string;
  projectId: string;
  userId: string;
}

/** nova's hostname sanitising: lower case, [a-z0-9-], no leading/trailing '-', at most 63. */
export function sanitizeHostname(name: string): string {
  const h = name
    .toLowerCase()
    .replace(/[ _.]/g, "-")
    .replace(/[^a-z0-9-]/g, "")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/, "");
  return h || "server";
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function validateBoot(store: Store, p: BootParams): void {
  if (p.uuid !== undefined) {
    if (!UUID_RE.test(p.uuid))
      throw invalid(`uuid ${p.uuid} is not a lower-case RFC 4122 uuid (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`, "uuid");
    if (store.db.query("SELECT 1 FROM instances WHERE deleted = 0 AND uuid = ?").get(p.uuid))
      throw conflict(`an instance with uuid ${p.uuid} already exists`, "uuid");
  }
  if (!p.name || p.name.length > 255) throw invalid("name must be 1 to 255 characters", "name");
  if (store.db.query("SELECT 1 FROM instances WHERE deleted = 0 AND name = ?").get(p.name))
    throw conflict(`an instance named ${p.name} already exists`, "name");
  if (p.userData && p.userData.length > MAX_USER_DATA)
    throw invalid(`user data is ${p.userData.length} bytes; at most ${MAX_USER_DATA} are allowed`, "user_data");
  for (const m of p.macs) {
    if (!isMac(m)) throw invalid(`--mac ${m} is not a MAC address (expected xx:xx:xx:xx:xx:xx)`, "mac");
    if (parseInt(m.slice(0, 2), 16) & 1) throw invalid(`--mac ${m} is a multicast address`, "mac");
    if (store.db.query("SELECT 1 FROM vifs WHERE deleted = 0 AND mac = ?").get(normalizeMac(m)))
      throw conflict(`MAC ${m} is already in use`, "mac");
  }
}

/** The networks an instance gets a port on: the requested ones, else every network its project sees (nova). */
export function bootNetworks(store: Store, p: Pick<BootParams, "networks" | "projectId">) {
  return p.networks.length
    ? p.networks.map((n) => getNetwork(store, n, "network"))
    : listNetworks(store).filter((n) => n.projectId === null || n.projectId === p.projectId);
}

export function bootInstance(
  store: Store,
  p: BootParams,
  randomBytes: (n: number) => Uint8Array = (n) => crypto.getRandomValues(new Uint8Array(n)),
): Instance {
  return store.write(() => {
    validateBoot(store, p);
    const key = instanceKey(store, p);
    const groups = (p.securityGroups.length ? p.securityGroups : ["default"]).map((g) =>
      g === "default" ? ensureDefaultGroup(store, p.projectId) : getSecurityGroupByName(store, g, p.projectId),
    );
    const nets = bootNetworks(store, p);
    if (nets.length === 0)
      throw invalid("no network to attach the instance to: create one with network-create", "network");
    if (p.macs.length > nets.length)
      throw invalid(`${p.macs.length} --mac values for ${nets.length} network(s)`, "mac");
    if (p.fixedIps.length > nets.length)
      throw invalid(`${p.fixedIps.length} --fixed-ip values for ${nets.length} network(s)`, "fixed_ip");
    const uuid = p.uuid ?? crypto.randomUUID();
    const v = store.version();
    // A uuid given back after its instance was deleted (a libvirt domain undefined and defined
    // again) revives the tombstone rather than colliding with it.
    store.db.query("DELETE FROM instances WHERE uuid = ? AND deleted = 1").run(uuid);
    store.db
      .query(`INSERT INTO instances (uuid, name, hostname, host, project_id, user_id, key_name, key_data, user_data, meta,
      launch_index, availability_zone, flavor, security_groups, reservation_id, password, created_at, origin, hlc, deleted)
      VALUES (?,?,?,?,?,?,?,?,?,?,0,?,?,?,?,NULL,?,?,?,0)`)
      .run(
        uuid,
        p.name,
        sanitizeHostname(p.name),
        store.nodeId,
        p.projectId,
        p.userId,
        key?.name ?? null,
        key?.publicKey ?? null,
        p.userData,
        JSON.stringify(p.meta),
        p.availabilityZone,
        p.flavor,
        JSON.stringify(groups.map((g) => g.name)),
        `r-${Buffer.from(randomBytes(4)).toString("hex")}`,
        store.now(),
        v.origin,
        v.hlc,
      );
    nets.forEach((net, idx) => {
      addVif(store, uuid, net.id, idx, p.macs[idx], p.fixedIps[idx], randomBytes);
    });
    store.changed("instance", "put", uuid);
    return getInstance(store, uuid);
  });
}

/** The key an instance carries: a named keypair, or key text given inline (validated as a keypair's). */
function instanceKey(
  store: Store,
  p: Pick<BootParams, "keyName" | "keyData" | "name">,
): { name: string; publicKey: string } | null {
  if (p.keyData) return { name: p.keyName ?? p.name, publicKey: parsePublicKey(p.keyData).normalized };
  return p.keyName ? getKeypair(store, p.keyName, "key_name") : null;
}

export function addVif(
  store: Store,
  uuid: string,
  networkId: string,
  idx: number,
  mac: string | undefined,
  fixedIp: string | undefined,
  randomBytes: (n: number) => Uint8Array,
): void {
  const net = getNetwork(store, networkId);
  let m = mac ? normalizeMac(mac) : "";
  // nova: up to 5 attempts at a unique random MAC.
  for (let i = 0; !m && i < 5; i++) {
    const cand = randomMac(randomBytes);
    if (!store.db.query("SELECT 1 FROM vifs WHERE deleted = 0 AND mac = ?").get(cand)) m = cand;
  }
  if (!m) throw conflict("could not find a unique MAC address in 5 attempts", "mac");
  const vifId = crypto.randomUUID();
  // multi_host: this host claims its own gateway/DHCP address before the first instance's.
  if (net.cidr && net.multiHost) hostAddress(store, net.id, store.nodeId, net.shareAddress, net.dhcpServer);
  const address = net.cidr ? allocateFixedIp(store, net.id, { instanceUuid: uuid, vifId }, fixedIp) : null;
  const v6 = net.cidrV6 ? eui64(m, net.cidrV6) : null;
  const v = store.version();
  store.db
    .query(
      "INSERT INTO vifs (id, mac, instance_uuid, network_id, address, address_v6, host, idx, origin, hlc, deleted) VALUES (?,?,?,?,?,?,?,?,?,?,0)",
    )
    .run(vifId, m, uuid, net.id, address, v6, store.nodeId, idx, v.origin, v.hlc);
  store.changed("vif", "put", vifId);
}

/** Delete an instance: tombstone it and its VIFs, return its addresses to the pool. */
export function deleteInstance(store: Store, ref: string): Instance {
  return store.write(() => {
    const inst = getInstance(store, ref);
    const v = store.version();
    store.db
      .query("UPDATE instances SET deleted = 1, origin = ?, hlc = ? WHERE uuid = ?")
      .run(v.origin, v.hlc, inst.uuid);
    for (const vif of listVifs(store, { instanceUuid: inst.uuid })) {
      store.db.query("UPDATE vifs SET deleted = 1, origin = ?, hlc = ? WHERE id = ?").run(v.origin, v.hlc, vif.id);
      // Its port name is free again (libvirt reuses vnetN names).
      store.db.query("DELETE FROM vif_ports WHERE vif_id = ?").run(vif.id);
      store.changed("vif", "delete", vif.id);
    }
    releaseInstanceIps(store, inst.uuid);
    releaseInstanceFloating(store, inst.uuid);
    store.changed("instance", "delete", inst.uuid);
    return inst;
  });
}

/** The metadata password: stored once (nova's rule); returns false when one is already set. */
export function setInstancePassword(store: Store, uuid: string, password: string): boolean {
  return store.write(() => {
    const inst = getInstance(store, uuid);
    if (inst.password) return false;
    const v = store.version();
    store.db
      .query("UPDATE instances SET password = ?, origin = ?, hlc = ? WHERE uuid = ?")
      .run(password, v.origin, v.hlc, uuid);
    store.changed("instance", "put", uuid);
    return true;
  });
}
