/** nova add-secgroup / remove-secgroup: an instance's security groups change after boot. */
import type { Instance } from "../model.ts";
import type { Store } from "./db.ts";
import { conflict, notFound } from "../util/errors.ts";
import { getInstance } from "./instances.ts";
import { resolveGroup } from "./secgroups.ts";

function setGroups(store: Store, inst: Instance, groups: string[]): Instance {
  const v = store.version();
  store.db
    .query("UPDATE instances SET security_groups = ?, origin = ?, hlc = ? WHERE uuid = ?")
    .run(JSON.stringify(groups), v.origin, v.hlc, inst.uuid);
  // The instance's rules are re-rendered from this event like any other instance change.
  store.changed("instance", "put", inst.uuid);
  return getInstance(store, inst.uuid);
}

export function addInstanceSecurityGroup(store: Store, ref: string, group: string): Instance {
  return store.write(() => {
    const inst = getInstance(store, ref);
    const g = resolveGroup(store, group, inst.projectId, "group");
    if (inst.securityGroups.includes(g.name))
      throw conflict(`instance ${inst.name} is already in security group ${g.name}`, "group");
    return setGroups(store, inst, [...inst.securityGroups, g.name]);
  });
}

export function removeInstanceSecurityGroup(store: Store, ref: string, group: string): Instance {
  return store.write(() => {
    const inst = getInstance(store, ref);
    const g = resolveGroup(store, group, inst.projectId, "group");
    if (!inst.securityGroups.includes(g.name))
      throw notFound(`security group ${g.name} on instance ${inst.name}`, "group");
    return setGroups(
      store,
      inst,
      inst.securityGroups.filter((n) => n !== g.name),
    );
  });
}
