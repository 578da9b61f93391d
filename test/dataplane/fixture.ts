/** A small desired state used by the render tests: one network, two instances, two groups. */
import { desiredFromFixture, type DesiredState, type Fixture } from "../../src/dataplane/desired.ts";

export const WEB = "grp-web";
export const DB = "grp-db";

export function smallFixture(over: Partial<Fixture> = {}): Fixture {
  return {
    config: { publicInterface: "eth0", routingSourceIp: "203.0.113.1", dmzCidr: ["192.168.50.0/24"] },
    networks: [{ id: "net1", bridge: "br100", cidr: "10.0.0.0/24", cidrV6: "fd00:1::/64", hostAddress: "10.0.0.1" }],
    instances: [
      {
        uuid: "vm-a",
        groups: [WEB],
        vifs: [{ mac: "fa:16:3e:00:00:0a", network: "net1", ipv4: "10.0.0.10", port: "vnet0" }],
      },
      {
        uuid: "vm-b",
        groups: [DB],
        vifs: [{ mac: "fa:16:3e:00:00:0b", network: "net1", ipv4: "10.0.0.11", port: "vnet1" }],
      },
    ],
    groups: [
      {
        id: WEB,
        name: "web",
        rules: [
          {
            direction: "ingress",
            ethertype: "IPv4",
            protocol: "tcp",
            fromPort: 22,
            toPort: 22,
            cidr: "0.0.0.0/0",
            sourceGroupId: null,
          },
          {
            direction: "ingress",
            ethertype: "IPv4",
            protocol: "icmp",
            fromPort: -1,
            toPort: -1,
            cidr: "0.0.0.0/0",
            sourceGroupId: null,
          },
        ],
      },
      {
        id: DB,
        name: "db",
        rules: [
          {
            direction: "ingress",
            ethertype: "IPv4",
            protocol: "tcp",
            fromPort: 5432,
            toPort: 5432,
            cidr: null,
            sourceGroupId: WEB,
          },
          {
            direction: "egress",
            ethertype: "IPv4",
            protocol: "udp",
            fromPort: 1000,
            toPort: 2000,
            cidr: "198.51.100.0/24",
            sourceGroupId: null,
          },
        ],
      },
    ],
    floatingIps: [{ address: "203.0.113.10", fixedAddress: "10.0.0.10", interface: "eth0" }],
    ...over,
  };
}

export function small(over: Partial<Fixture> = {}): DesiredState {
  return desiredFromFixture(smallFixture(over));
}
