/** Conversions between the API's JSON and the store's types. */
import type * as v from "valibot";
import type { Config } from "../config/load.ts";
import { type Instance, leaseKey } from "../model.ts";
import type { NetworkCreateParams } from "../net/network-plan.ts";
import type { Store } from "../store/db.ts";
import { listVifs } from "../store/instances.ts";
import { listNetworks } from "../store/networks.ts";
import { listFloatingIps } from "../store/floating.ts";
import { listLeases } from "../store/leases.ts";
import { portsByVif } from "../store/ports.ts";
import type { NetworkCreate } from "./schemas.ts";

/** Fill network-create defaults from the configuration, as nova-manage did from nova.conf. */
export function networkParams(b: v.InferOutput<typeof NetworkCreate>, config: Config): NetworkCreateParams {
  const vlanMode = config.networkManager === "vlan";
  return {
    label: b.label,
    cidr: b.fixed_range_v4,
    cidrV6: b.fixed_range_v6,
    numNetworks: b.num_networks,
    networkSize: b.network_size,
    fixedCidr: b.fixed_cidr,
    bridge: b.bridge ?? (vlanMode && b.vlan ? `br${b.vlan}` : config.flatNetworkBridge),
    bridgeInterface: b.bridge_interface ?? (vlanMode ? config.vlanInterface : config.flatInterface),
    vlan: b.vlan,
    vxlan: b.vxlan,
    gateway: b.gateway,
    gatewayV6: b.gateway_v6 ?? config.gatewayV6,
    dns1: b.dns1 ?? config.flatNetworkDns,
    dns2: b.dns2,
    mtu: b.mtu,
    multiHost: b.multi_host ?? config.multiHost,
    projectId: b.project_id,
    dhcpServer: b.dhcp_server,
    allowedStart: b.allowed_start,
    allowedEnd: b.allowed_end,
    enableDhcp: b.enable_dhcp,
    shareAddress: b.share_address ?? config.shareDhcpAddress,
    vlanMode,
  };
}

/**
 * Instances with their ports, floating IPs and lease states, as `show`/`list` print them. The
 * networks, floating IPs and leases are read once for the whole list, not once per instance.
 */
export function instancesJson(store: Store, insts: Instance[]): Record<string, unknown>[] {
  const nets = new Map(listNetworks(store).map((n) => [n.id, n]));
  const floating = listFloatingIps(store);
  const leases = new Map(listLeases(store).map((l) => [leaseKey(l.networkId, l.mac), l.state]));
  const ports = portsByVif(store);
  return insts.map((inst) => {
    const { userData, password, ...rest } = inst;
    return {
      ...rest,
      userDataBytes: userData?.length ?? 0,
      passwordSet: !!password,
      floatingIps: floating.filter((f) => f.instanceUuid === inst.uuid).map((f) => f.address),
      ports: listVifs(store, { instanceUuid: inst.uuid }).map((x) => ({
        mac: x.mac,
        network: nets.get(x.networkId)?.label ?? x.networkId,
        networkId: x.networkId,
        address: x.address,
        addressV6: x.addressV6,
        lease: leases.get(leaseKey(x.networkId, x.mac)) ?? null,
        port: ports.get(x.id) ?? null,
      })),
    };
  });
}

export function instanceJson(store: Store, inst: Instance): Record<string, unknown> {
  return instancesJson(store, [inst])[0];
}
