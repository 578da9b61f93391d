/** HostView → the dataplane's DesiredState (NAT, floating IPs, security groups, anti-spoofing, links). */
import type { DesiredState, GroupMembers, InstanceOnHost } from "../dataplane/desired.ts";
import { createHash } from "node:crypto";
import { linkLocal } from "../net/eui64.ts";
import type { HostView } from "./host-view.ts";

/** A locally administered MAC from the host and the bridge name: the same after every restart. */
export function bridgeMac(nodeId: string, bridge: string): string {
  const h = createHash("sha256").update(`${nodeId}/${bridge}`).digest();
  h[0] = (h[0] & 0xfc) | 0x02; // unicast, locally administered
  return [...h.subarray(0, 6)].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

export function desiredState(view: HostView, bridgeMeta = false): DesiredState {
  const c = view.config;
  const links = (n: HostView["standby"][number]) => ({
    id: n.id,
    bridge: n.bridge,
    mtu: n.mtu,
    vlan: n.vlan,
    vxlan: n.vxlan === null ? null : { vni: n.vxlan, peers: view.peers, local: c.myIp, underlay: null },
    uplink: n.bridgeInterface,
    bridgeMac: bridgeMac(view.nodeId, n.bridge),
  });
  // A VIF on a network bridged only here is still bound to its port and filtered here.
  const bridgeOf = new Map([...view.served, ...view.bridged].map((s) => [s.network.id, s.network.bridge]));
  const groupIds = new Map(view.groups.map((g) => [`${g.group.projectId}/${g.group.name}`, g.group.id]));
  const idsOf = (projectId: string, names: string[]) =>
    names.map((n) => groupIds.get(`${projectId}/${n}`)).filter((x): x is string => !!x);
  const instances: InstanceOnHost[] = view.local.map(({ instance, vifs }) => ({
    uuid: instance.uuid,
    name: instance.name,
    groups: idsOf(instance.projectId, instance.securityGroups),
    vifs: vifs
      .filter((v) => bridgeOf.has(v.networkId))
      .map((v) => ({
        mac: v.mac,
        networkId: v.networkId,
        bridge: bridgeOf.get(v.networkId)!,
        ipv4: v.address,
        ipv6: v.addressV6,
        ipv6LinkLocal: linkLocal(v.mac),
        port: view.ports.get(v.id) ?? null,
      })),
  }));
  // Membership is cluster-wide: a source-group rule admits the group's instances on every host.
  const members: Record<string, GroupMembers> = {};
  const vifsOf = Map.groupBy(view.allVifs, (v) => v.instanceUuid);
  for (const inst of view.allInstances) {
    for (const gid of idsOf(inst.projectId, inst.securityGroups)) {
      const m = (members[gid] ??= { v4: [], v6: [] });
      for (const v of vifsOf.get(inst.uuid) ?? []) {
        if (v.address) m.v4.push(v.address);
        if (v.addressV6) m.v6.push(v.addressV6);
      }
    }
  }
  return {
    config: {
      publicInterface: c.publicInterface,
      routingSourceIp: c.routingSourceIp,
      dmzCidr: c.dmzCidr,
      forceSnatRange: c.forceSnatRange,
      metadataHost: c.metadataHost,
      metadataPort: c.metadataPort,
      allowSameNetTraffic: c.allowSameNetTraffic,
      firewallDriver: c.firewallDriver,
      flatInterface: c.flatInterface,
      vlanInterface: c.vlanInterface,
      networkDeviceMtu: c.networkDeviceMtu,
      sendArpForHa: c.sendArpForHa,
      sendArpForHaCount: c.sendArpForHaCount,
      bridgeMeta,
    },
    networks: view.served.map((s) => ({
      ...links(s.network),
      cidr: s.network.cidr,
      cidrV6: s.network.cidrV6,
      hostAddress: s.hostAddress,
      hostAddressShared: !s.network.multiHost || s.network.shareAddress,
      dhcp: s.network.enableDhcp,
      hostAddressV6: c.useIpv6 ? s.network.gatewayV6 : null,
      segment: s.segment,
      remoteServer: null,
    })),
    // Bridged only: links as for standby; the subnet and the serving host's address let this
    // host's guests receive their DHCP replies and their neighbours' traffic.
    standby: [
      ...view.bridged.map((b) => ({
        ...links(b.network),
        cidr: b.network.cidr,
        cidrV6: b.network.cidrV6,
        hostAddress: null,
        hostAddressShared: false,
        dhcp: false,
        hostAddressV6: null,
        segment: false,
        remoteServer: b.server,
      })),
      ...view.standby.map((n) => ({
        ...links(n),
        cidr: null,
        cidrV6: null,
        hostAddress: null,
        hostAddressShared: false,
        dhcp: false,
        hostAddressV6: null,
        segment: false,
        remoteServer: null,
      })),
    ],
    foreignPorts: [],
    instances,
    groups: view.groups.map(({ group, rules }) => ({
      id: group.id,
      name: group.name,
      rules: rules.map((r) => ({
        direction: r.direction,
        ethertype: r.ethertype,
        protocol: r.protocol,
        fromPort: r.fromPort,
        toPort: r.toPort,
        cidr: r.cidr,
        sourceGroupId: r.sourceGroupId,
      })),
    })),
    members,
    floatingIps: view.floating.map((f) => ({
      address: f.address,
      fixedAddress: f.fixedAddress!,
      interface: f.interface,
    })),
  };
}
