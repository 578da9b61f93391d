/**
 * Boot and delete when the node is part of a cluster: addresses come from this host's IPAM
 * blocks (unique cluster-wide by majority agreement), never from the local table alone.
 */
import type { ClusterAgent } from "../agent/cluster.ts";
import type { Store } from "../store/db.ts";
import { StoreError } from "../store/db.ts";
import {
  bootInstance,
  bootNetworks,
  deleteInstance,
  getInstance,
  listVifs,
  type BootParams,
} from "../store/instances.ts";
import { claimHostAddress, findHostAddress } from "../store/fixed-ips.ts";
import type { Instance } from "../model.ts";
import { attachInterface, type AttachParams } from "../store/interfaces.ts";
import { getNetwork } from "../store/networks.ts";

export async function clusterBoot(store: Store, cluster: ClusterAgent, p: BootParams): Promise<Instance> {
  if (p.fixedIps.length)
    throw new StoreError(
      "--fixed-ip cannot be honoured in a cluster: addresses come from this host's blocks",
      "fixed_ip",
      400,
    );
  const taken: [string, string][] = [];
  const allocate = async (networkId: string, owner: string) => {
    try {
      const a = await cluster.allocate(networkId, owner);
      taken.push([networkId, a]);
      return a;
    } catch (err) {
      throw new StoreError(
        `no address for this host on network ${networkId}: ${(err as Error).message}`,
        "network",
        409,
      );
    }
  };
  try {
    const fixedIps: string[] = [];
    for (const net of bootNetworks(store, p)) {
      if (!net.cidr) {
        fixedIps.push("");
        continue;
      }
      if (net.multiHost && !net.shareAddress && !findHostAddress(store, net.id, store.nodeId)) {
        claimHostAddress(store, net.id, store.nodeId, await allocate(net.id, `host:${store.nodeId}`));
        taken.pop(); // the host keeps its gateway address even if this boot fails
      }
      fixedIps.push(await allocate(net.id, `instance:${p.name}`));
    }
    return bootInstance(store, { ...p, fixedIps: fixedIps.map((a) => a || undefined) as string[] });
  } catch (err) {
    for (const [net, a] of taken) cluster.release(net, a);
    throw err;
  }
}

/** interface-attach in a cluster: the new port's address comes from this host's blocks too. */
export async function clusterAttach(
  store: Store,
  cluster: ClusterAgent,
  ref: string,
  p: AttachParams,
): Promise<Instance> {
  if (p.fixedIp)
    throw new StoreError(
      "--fixed-ip cannot be honoured in a cluster: addresses come from this host's blocks",
      "fixed_ip",
      400,
    );
  const inst = getInstance(store, ref);
  const net = getNetwork(store, p.network, "network");
  if (!net.cidr) return getInstance(store, attachInterface(store, ref, p).instanceUuid);
  if (net.multiHost && !net.shareAddress && !findHostAddress(store, net.id, store.nodeId)) {
    claimHostAddress(store, net.id, store.nodeId, await cluster.allocate(net.id, `host:${store.nodeId}`));
  }
  let address: string;
  try {
    address = await cluster.allocate(net.id, `instance:${inst.name}`);
  } catch (err) {
    throw new StoreError(`no address for this host on network ${net.label}: ${(err as Error).message}`, "network", 409);
  }
  try {
    return getInstance(store, attachInterface(store, ref, { ...p, fixedIp: address }).instanceUuid);
  } catch (err) {
    cluster.release(net.id, address);
    throw err;
  }
}

export function clusterDelete(store: Store, cluster: ClusterAgent, ref: string): Instance {
  const inst = getInstance(store, ref);
  if (inst.host !== store.nodeId)
    throw new StoreError(`instance ${inst.name} runs on ${inst.host}; delete it there`, "instance", 409);
  const vifs = listVifs(store, { instanceUuid: inst.uuid });
  const gone = deleteInstance(store, inst.uuid);
  for (const v of vifs) if (v.address) cluster.release(v.networkId, v.address);
  return gone;
}
