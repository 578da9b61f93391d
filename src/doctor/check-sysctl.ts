/**
 * The kernel settings behind the admin guide's classic problems: ip_forward (instances reach
 * nothing beyond their bridge), rp_filter (floating IPs unreachable), bridge filtering
 * (security groups between instances on one bridge).
 */
import {
  BRIDGE_NF_IP6TABLES,
  BRIDGE_NF_IPTABLES,
  IP_FORWARD,
  IPV6_FORWARDING,
  rpFilterKey,
  type CheckResult,
  type DoctorTarget,
  type HostFacts,
} from "./types.ts";

/** Makes settings survive a reboot; one file per concern so that two fixes never overwrite each other. */
const persist = (name: string, lines: string[]) =>
  `printf '${lines.map((l) => `${l}\\n`).join("")}' > /etc/sysctl.d/90-netlet-${name}.conf`;

export function checkIpForward(f: HostFacts): CheckResult {
  const v = f.sysctl[IP_FORWARD];
  if (v === "1") return { id: "ip_forward", status: "ok", summary: "net.ipv4.ip_forward = 1" };
  return {
    id: "ip_forward",
    status: "fail",
    summary: `net.ipv4.ip_forward = ${v ?? "(absent)"}: this host does not route, so instances reach nothing beyond their bridge (no SNAT to the outside, no floating IPs). The agent sets it when it programs the dataplane; if it is 0 while the agent runs, something else resets it`,
    fix: `sysctl -w ${IP_FORWARD}=1 && ${persist("ip_forward", [`${IP_FORWARD} = 1`])}`,
  };
}

export function checkIpv6Forwarding(f: HostFacts, t: DoctorTarget): CheckResult[] {
  if (!t.useIpv6) return [];
  const v = f.sysctl[IPV6_FORWARDING];
  if (v === "1")
    return [{ id: "ipv6_forwarding", status: "ok", summary: "net.ipv6.conf.all.forwarding = 1 (use_ipv6 = true)" }];
  return [
    {
      id: "ipv6_forwarding",
      status: "warn",
      summary: `use_ipv6 = true but net.ipv6.conf.all.forwarding = ${v ?? "(absent)"}: instances take this host as their IPv6 router from its advertisements, but it does not forward their packets`,
      fix: `sysctl -w ${IPV6_FORWARDING}=1 (with forwarding on, an uplink that learns its own address from RAs needs accept_ra = 2)`,
    },
  ];
}

/** The kernel uses the larger of conf.all and conf.<iface>: 0 off, 1 strict, 2 loose. */
export function effectiveRpFilter(f: HostFacts, iface: string): number | null {
  const all = f.sysctl[rpFilterKey("all")];
  const own = f.sysctl[rpFilterKey(iface)];
  if (own === null || own === undefined) return null;
  return Math.max(Number(all ?? 0), Number(own));
}

export function checkRpFilter(f: HostFacts, t: DoctorTarget): CheckResult[] {
  const ifaces = [t.publicInterface, ...t.bridges].filter((i, n, a) => a.indexOf(i) === n && f.interfaces.includes(i));
  if (!ifaces.length)
    return [
      {
        id: "rp_filter",
        status: "ok",
        summary: "rp_filter: none of public_interface and the served bridges exists yet",
      },
    ];
  const strict = ifaces.filter((i) => effectiveRpFilter(f, i) === 1);
  if (!strict.length)
    return [{ id: "rp_filter", status: "ok", summary: `rp_filter is off or loose on ${ifaces.join(", ")}` }];
  const keys = ["all", ...strict].map((i) => `${rpFilterKey(i)}=2`);
  return [
    {
      id: "rp_filter",
      status: "warn",
      summary: `strict reverse-path filtering (rp_filter = 1) on ${strict.join(", ")}: packets to floating IPs that arrive on an interface other than the one this host would route the reply through are dropped, the admin guide's "cannot reach floating IPs". Loose mode (2) still drops sources no route leads back to`,
      fix: `sysctl -w ${keys.join(" ")} && ${persist(
        "rp_filter",
        keys.map((k) => k.replace("=", " = ")),
      )}`,
    },
  ];
}

export function checkPublicInterface(f: HostFacts, t: DoctorTarget): CheckResult {
  if (f.interfaces.includes(t.publicInterface))
    return { id: "public_interface", status: "ok", summary: `public_interface ${t.publicInterface} exists` };
  return {
    id: "public_interface",
    status: "warn",
    summary: `public_interface = ${t.publicInterface}, but this host has no such interface: SNAT to the outside and floating IPs use it`,
    fix: `set public_interface in the configuration file to the interface toward the outside (ip -br link lists them)`,
  };
}

/**
 * netlet's security groups live in the inet family and see traffic between instances on the
 * same bridge only through br_netfilter with bridge-nf-call-iptables/ip6tables = 1
 * (anti-spoofing is in the bridge family and needs neither). The agent sets both sysctls but,
 * without CAP_SYS_MODULE, cannot load the module.
 */
export function checkBridgeFilter(f: HostFacts, t: DoctorTarget): CheckResult[] {
  if (t.firewallDriver === "noop")
    return [{ id: "br_netfilter", status: "ok", summary: "firewall_driver = noop: bridge filtering is not needed" }];
  const v4 = f.sysctl[BRIDGE_NF_IPTABLES];
  const v6 = f.sysctl[BRIDGE_NF_IP6TABLES];
  if (v4 === null || v4 === undefined) {
    return [
      {
        id: "br_netfilter",
        status: "fail",
        summary:
          "br_netfilter is not loaded: security groups would not see traffic between instances on the same bridge",
        fix: "modprobe br_netfilter && echo br_netfilter > /etc/modules-load.d/netlet.conf",
      },
    ];
  }
  const out: CheckResult[] = [{ id: "br_netfilter", status: "ok", summary: "br_netfilter is loaded" }];
  const off = [
    [BRIDGE_NF_IPTABLES, v4],
    [BRIDGE_NF_IP6TABLES, v6],
  ]
    .filter(([, v]) => v !== "1")
    .map(([k]) => k!);
  if (!off.length)
    out.push({
      id: "bridge-nf-call",
      status: "ok",
      summary: "bridge-nf-call-iptables and -ip6tables = 1: security groups filter bridged traffic",
    });
  else {
    out.push({
      id: "bridge-nf-call",
      status: "warn",
      summary: `${off.join(" and ")} = 0: security groups do not filter traffic between instances on the same bridge. The agent sets 1 each time it programs the dataplane; the admin guide's advice to set 0 (VLAN packet loss) does not apply to netlet`,
      fix: `sysctl -w ${off.map((k) => `${k}=1`).join(" ")} and remove any sysctl.d line setting them to 0`,
    });
  }
  return out;
}
