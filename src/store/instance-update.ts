/**
 * Updating what a running instance's metadata serves (key, user data, meta, security groups,
 * name): hypervisor hooks re-declare an instance at every start, and a definition edited while
 * the guest was off must reach the metadata service. Unchanged values write nothing, so a
 * restart of an unchanged domain sends no change event through the store.
 */
import type { Instance } from "../model.ts";
import type { Store } from "./db.ts";
import { conflict, invalid } from "../util/errors.ts";
import { getInstance, MAX_USER_DATA, sanitizeHostname } from "./instances.ts";
import { getKeypair, parsePublicKey } from "./keypairs.ts";
import { ensureDefaultGroup, getSecurityGroupByName } from "./secgroups.ts";

export interface InstanceUpdate {
  name?: string;
  /** null removes the key. */
  keyName?: string | null;
  keyData?: string | null;
  userData?: Uint8Array | null;
  meta?: Record<string, string>;
  securityGroups?: string[];
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (!a || !b) return a === b || (!a?.length && !b?.length);
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function resolveKey(store: Store, inst: Instance, u: InstanceUpdate): { name: string | null; data: string | null } {
  if (u.keyData) return { name: u.keyName ?? u.name ?? inst.name, data: parsePublicKey(u.keyData).normalized };
  if (u.keyName) return { name: u.keyName, data: getKeypair(store, u.keyName, "key_name").publicKey };
  if (u.keyName === null || u.keyData === null) return { name: null, data: null };
  return { name: inst.keyName, data: inst.keyData };
}

export function updateInstance(store: Store, ref: string, u: InstanceUpdate): Instance {
  return store.write(() => {
    const inst = getInstance(store, ref);
    const name = u.name ?? inst.name;
    if (!name || name.length > 255) throw invalid("name must be 1 to 255 characters", "name");
    if (name !== inst.name && store.db.query("SELECT 1 FROM instances WHERE deleted = 0 AND name = ?").get(name)) {
      throw conflict(`an instance named ${name} already exists`, "name");
    }
    if (u.userData && u.userData.length > MAX_USER_DATA)
      throw invalid(`user data is ${u.userData.length} bytes; at most ${MAX_USER_DATA} are allowed`, "user_data");
    const key = resolveKey(store, inst, u);
    const groups =
      u.securityGroups === undefined
        ? inst.securityGroups
        : (u.securityGroups.length ? u.securityGroups : ["default"]).map(
            (g) =>
              (g === "default"
                ? ensureDefaultGroup(store, inst.projectId)
                : getSecurityGroupByName(store, g, inst.projectId)
              ).name,
          );
    const userData = u.userData === undefined ? inst.userData : u.userData;
    const meta = u.meta ?? inst.meta;
    const same =
      name === inst.name &&
      key.name === inst.keyName &&
      key.data === inst.keyData &&
      sameBytes(userData, inst.userData) &&
      JSON.stringify(meta) === JSON.stringify(inst.meta) &&
      JSON.stringify(groups) === JSON.stringify(inst.securityGroups);
    if (same) return inst;
    const v = store.version();
    store.db
      .query(`UPDATE instances SET name = ?, hostname = ?, key_name = ?, key_data = ?, user_data = ?, meta = ?, security_groups = ?,
      origin = ?, hlc = ? WHERE uuid = ?`)
      .run(
        name,
        sanitizeHostname(name),
        key.name,
        key.data,
        userData,
        JSON.stringify(meta),
        JSON.stringify(groups),
        v.origin,
        v.hlc,
        inst.uuid,
      );
    store.changed("instance", "put", inst.uuid);
    return getInstance(store, inst.uuid);
  });
}
