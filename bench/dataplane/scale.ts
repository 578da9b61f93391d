/**
 * A synthetic host with N instances for the dataplane benchmark: 100 security groups (tcp 22,
 * 80, 443 from anywhere, udp 1000-2000 from a CIDR, tcp 5432 from a source group, icmp echo;
 * every tenth group also has egress rules), instance i in group i mod 100 and in `default`.
 */
import {
  desiredFromFixture,
  type DesiredState,
  type FixtureInstance,
  type GroupSpec,
  type RuleSpec,
} from "../../src/dataplane/desired.ts";

const GROUPS = 100;

function rule(o: Partial<RuleSpec>): RuleSpec {
  return {
    direction: "ingress",
    ethertype: "IPv4",
    protocol: "tcp",
    fromPort: 22,
    toPort: 22,
    cidr: "0.0.0.0/0",
    sourceGroupId: null,
    ...o,
  };
}

export function groupId(i: number): string {
  return `sg-${String(i).padStart(3, "0")}`;
}

function groups(): GroupSpec[] {
  const out: GroupSpec[] = [
    { id: "default", name: "default", rules: [rule({ protocol: "icmp", fromPort: 8, toPort: -1 })] },
  ];
  for (let g = 0; g < GROUPS; g++) {
    const rules = [
      rule({}),
      rule({ fromPort: 80, toPort: 80 }),
      rule({ fromPort: 443, toPort: 443 }),
      rule({ protocol: "udp", fromPort: 1000, toPort: 2000, cidr: "10.1.0.0/16" }),
      rule({ fromPort: 5432, toPort: 5432, cidr: null, sourceGroupId: groupId((g + 1) % GROUPS) }),
      rule({ protocol: "icmp", fromPort: 8, toPort: 0 }),
    ];
    if (g % 10 === 0)
      rules.push(
        rule({ direction: "egress", fromPort: 443, toPort: 443 }),
        rule({ direction: "egress", protocol: "udp", fromPort: 53, toPort: 53 }),
      );
    out.push({ id: groupId(g), name: `group ${g}`, rules });
  }
  return out;
}

function mac(i: number): string {
  const h = i.toString(16).padStart(6, "0");
  return `fa:16:3e:${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}`;
}

export function instance(i: number): FixtureInstance {
  const ip = `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
  return {
    uuid: `inst-${i}`,
    groups: [groupId(i % GROUPS), "default"],
    vifs: [{ mac: mac(i), network: "n", ipv4: ip, port: `tap${i}` }],
  };
}

/** Desired state with `n` instances (and `extra` appended to the instance list). */
export function scaled(n: number, extra: FixtureInstance[] = []): DesiredState {
  return desiredFromFixture({
    config: { publicInterface: "eth0", routingSourceIp: "203.0.113.1", dmzCidr: ["192.168.0.0/16"] },
    networks: [{ id: "n", bridge: "br100", cidr: "10.96.0.0/11", cidrV6: "fd00:1::/64", hostAddress: "10.96.0.1" }],
    instances: [...Array.from({ length: n }, (_, i) => instance(i + 1)), ...extra],
    groups: groups(),
    floatingIps: Array.from({ length: Math.min(n, 500) }, (_, i) => ({
      address: `203.0.${113 + ((i + 1) >> 8)}.${(i + 1) & 255}`,
      fixedAddress: instance(i + 1).vifs[0].ipv4!,
      interface: "eth0",
    })),
  });
}
