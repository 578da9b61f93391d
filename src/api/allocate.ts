/**
 * Boot, attach, detach and delete through the agent's Allocator (ipam/allocator.ts), the one path
 * whether the node runs standalone or in a cluster: the addresses are decided first, the store
 * records the ports in one write, and a refused write gives back what was taken.
 */
import type { Allocation, AllocNetwork, Allocator } from "../ipam/allocator.ts";
import type { Instance, Network, Vif } from "../model.ts";
import type { Store } from "../store/db.ts";
import {
  type BootParams,
  bootInstance,
  bootNetworks,
  deleteInstance,
  getInstance,
  listVifs,
} from "../store/instances.ts";
import { type AttachParams, attachInterface, detachInterface } from "../store/interfaces.ts";
import { getNetwork } from "../store/networks.ts";
import { conflict } from "../util/errors.ts";

const allocNetwork = (n: Network, name: string): AllocNetwork => ({
  id: n.id,
  name,
  cidr: n.cidr,
  hostAddress: n.multiHost && !n.shareAddress,
});

/** Record what `write` makes with the allocation's addresses, or give them back. */
function recorded<T>(alloc: Allocation, write: () => T): T {
  try {
    return write();
  } catch (err) {
    alloc.abort();
    throw err;
  }
}

export async function boot(store: Store, allocator: Allocator, p: BootParams): Promise<Instance> {
  const alloc = await allocator.allocate({
    networks: bootNetworks(store, p).map((n) => allocNetwork(n, n.id)),
    requested: p.fixedIps,
    owner: `instance:${p.name}`,
  });
  return recorded(alloc, () => bootInstance(store, { ...p, fixedIps: alloc.addresses }));
}

/** interface-attach: the new port's address comes from the allocator too. */
export async function attach(store: Store, allocator: Allocator, ref: string, p: AttachParams): Promise<Instance> {
  const inst = getInstance(store, ref);
  const net = getNetwork(store, p.network, "network");
  const alloc = await allocator.allocate({
    networks: [allocNetwork(net, net.label)],
    requested: [p.fixedIp],
    owner: `instance:${inst.name}`,
  });
  return recorded(alloc, () =>
    getInstance(store, attachInterface(store, ref, { ...p, fixedIp: alloc.addresses[0] }).instanceUuid),
  );
}

export function detach(
  store: Store,
  allocator: Allocator,
  ref: string,
  match: { mac?: string; address?: string },
): Vif {
  const vif = detachInterface(store, ref, match);
  if (vif.address) allocator.release(vif.networkId, vif.address);
  return vif;
}

export function remove(store: Store, allocator: Allocator, ref: string): Instance {
  const inst = getInstance(store, ref);
  if (!allocator.releases(inst.host))
    throw conflict(`instance ${inst.name} runs on ${inst.host}; delete it there`, "instance");
  const vifs = listVifs(store, { instanceUuid: inst.uuid });
  const gone = deleteInstance(store, inst.uuid);
  for (const v of vifs) if (v.address) allocator.release(v.networkId, v.address);
  return gone;
}
