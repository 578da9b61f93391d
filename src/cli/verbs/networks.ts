/** network-create|list|show|delete and fixed reserve|unreserve|list. */
import type { FixedIp, Network } from "../../model.ts";
import { UsageError } from "../errors.ts";
import { table, propertyTable } from "../table.ts";
import { intOpt, print, strOpt, type Verb } from "../verb.ts";

const s = (help: string, arg = "VALUE") => ({ type: "string" as const, help, arg });
const b = (help: string) => ({ type: "boolean" as const, help });

export const networkVerbs: Verb[] = [
  {
    name: "network-disassociate",
    summary:
      "Disassociate a network from its project and its host (nova network-disassociate): every project may use it again.",
    args: ["NETWORK"],
    options: {
      "host-only": b("only forget the network's host"),
      "project-only": b("only forget the network's project"),
    },
    async run(ctx) {
      const hostOnly = !!ctx.opts["host-only"];
      const projectOnly = !!ctx.opts["project-only"];
      if (hostOnly && projectOnly)
        throw new UsageError("network-disassociate: --host-only and --project-only exclude each other");
      const before = await ctx.api.call<Network>("GET", `/v1/networks/${encodeURIComponent(ctx.args[0])}`);
      const n = await ctx.api.call<Network>("POST", `/v1/networks/${encodeURIComponent(ctx.args[0])}/disassociate`, {
        host: !projectOnly,
        project: !hostOnly,
      });
      const gone = [
        before.projectId !== n.projectId ? `project ${before.projectId}` : "",
        before.host !== n.host ? `host ${before.host}` : "",
      ].filter(Boolean);
      ctx.out(`network ${n.label} disassociated from ${gone.join(" and ")}`);
    },
  },
  {
    name: "network-associate-host",
    summary:
      "Associate a network that is not multi_host with the one host that serves it (nova network-associate-host).",
    args: ["NETWORK", "HOST"],
    async run(ctx) {
      const n = await ctx.api.call<Network>("POST", `/v1/networks/${encodeURIComponent(ctx.args[0])}/associate-host`, {
        host: ctx.args[1],
      });
      ctx.out(`network ${n.label} associated with host ${n.host}`);
    },
  },
  {
    name: "network-create",
    summary: "Create a network (nova network-create / nova-manage network create).",
    args: ["LABEL"],
    options: {
      "fixed-range-v4": s("IPv4 range of the network", "CIDR"),
      "fixed-range-v6": s("IPv6 /64 of the network (SLAAC)", "CIDR"),
      "fixed-cidr": s("part of the range handed to instances", "CIDR"),
      "num-networks": s("split the range into this many networks (default 1)", "N"),
      "network-size": s("addresses per network (default: range / num-networks)", "N"),
      bridge: s("bridge on each host (default flat_network_bridge)", "NAME"),
      "bridge-interface": s("uplink enslaved to the bridge", "IFACE"),
      vlan: s("VLAN id (vlan mode)", "ID"),
      vxlan: s("VXLAN network identifier: hosts are joined by VXLAN", "VNI"),
      gateway: s("IPv4 gateway (default: first address)", "IP"),
      "gateway-v6": s("IPv6 gateway (default: first address)", "IP"),
      dns1: s("first DNS server (default flat_network_dns)", "IP"),
      dns2: s("second DNS server", "IP"),
      mtu: s("MTU of the network (DHCP option 26, RA MTU, bridge)", "N"),
      "multi-host": s("every host serves its own instances: T or F (default multi_host)", "T|F"),
      "project-id": s("project owning the network", "ID"),
      "dhcp-server": s("DHCP server address (default: gateway)", "IP"),
      "allowed-start": s("first address handed to instances", "IP"),
      "allowed-end": s("last address handed to instances", "IP"),
      "enable-dhcp": b("serve DHCP on the network (default)"),
      "disable-dhcp": b("do not serve DHCP on the network"),
      "share-address": s("all hosts share the DHCP/gateway address: T or F", "T|F"),
    },
    read: true,
    async run(ctx) {
      const flag = (name: string): boolean | null => {
        const v = strOpt(ctx, name);
        if (v === null) return null;
        if (/^(t|true|1|yes)$/i.test(v)) return true;
        if (/^(f|false|0|no)$/i.test(v)) return false;
        throw new UsageError(`--${name} ${v}: expected T or F`);
      };
      if (ctx.opts["enable-dhcp"] && ctx.opts["disable-dhcp"])
        throw new UsageError("--enable-dhcp and --disable-dhcp exclude each other");
      if (!strOpt(ctx, "fixed-range-v4") && !strOpt(ctx, "fixed-range-v6"))
        throw new UsageError("network-create: --fixed-range-v4 CIDR (or --fixed-range-v6) is required");
      const body = {
        label: ctx.args[0],
        fixed_range_v4: strOpt(ctx, "fixed-range-v4"),
        fixed_range_v6: strOpt(ctx, "fixed-range-v6"),
        fixed_cidr: strOpt(ctx, "fixed-cidr"),
        num_networks: intOpt(ctx, "num-networks", 1, 4094) ?? 1,
        network_size: intOpt(ctx, "network-size", 4, 2 ** 24),
        bridge: strOpt(ctx, "bridge"),
        bridge_interface: strOpt(ctx, "bridge-interface"),
        vlan: intOpt(ctx, "vlan", 1, 4094),
        vxlan: intOpt(ctx, "vxlan", 1, 16_777_215),
        gateway: strOpt(ctx, "gateway"),
        gateway_v6: strOpt(ctx, "gateway-v6"),
        dns1: strOpt(ctx, "dns1"),
        dns2: strOpt(ctx, "dns2"),
        mtu: intOpt(ctx, "mtu", 576, 65535),
        multi_host: flag("multi-host"),
        project_id: strOpt(ctx, "project-id"),
        dhcp_server: strOpt(ctx, "dhcp-server"),
        allowed_start: strOpt(ctx, "allowed-start"),
        allowed_end: strOpt(ctx, "allowed-end"),
        enable_dhcp: !ctx.opts["disable-dhcp"],
        share_address: flag("share-address"),
      };
      const nets = await ctx.api.call<Network[]>("POST", "/v1/networks", body);
      print(ctx, nets, () => networkTable(nets));
    },
  },
  {
    name: "network-list",
    summary: "List networks.",
    read: true,
    async run(ctx) {
      const nets = await ctx.api.call<Network[]>("GET", "/v1/networks");
      print(ctx, nets, () => networkTable(nets));
    },
  },
  {
    name: "network-show",
    summary: "Show one network (by label or id).",
    args: ["NETWORK"],
    read: true,
    async run(ctx) {
      const n = await ctx.api.call<Network>("GET", `/v1/networks/${encodeURIComponent(ctx.args[0])}`);
      print(ctx, n, () => propertyTable(n as unknown as Record<string, unknown>));
    },
  },
  {
    name: "network-delete",
    summary: "Delete a network (refused while instances use it).",
    args: ["NETWORK"],
    async run(ctx) {
      const n = await ctx.api.call<Network>("DELETE", `/v1/networks/${encodeURIComponent(ctx.args[0])}`);
      ctx.out(`deleted network ${n.label} (${n.id})`);
    },
  },
  fixedVerb("reserve"),
  fixedVerb("unreserve"),
  {
    name: "fixed list",
    summary: "List fixed IPs (network, address, hostname, host).",
    options: { network: s("only this network", "NETWORK"), host: s("only addresses claimed by this host", "HOST") },
    read: true,
    async run(ctx) {
      const q = new URLSearchParams();
      if (strOpt(ctx, "network")) q.set("network", strOpt(ctx, "network")!);
      if (strOpt(ctx, "host")) q.set("host", strOpt(ctx, "host")!);
      const ips = await ctx.api.call<(FixedIp & { hostname: string | null; instanceHost: string | null })[]>(
        "GET",
        `/v1/fixed-ips?${q}`,
      );
      const nets = new Map((await ctx.api.call<Network[]>("GET", "/v1/networks")).map((n) => [n.id, n.cidr]));
      const used = ips.filter((i) => i.instanceUuid || i.reserved || i.host || i.leased);
      // nova-manage's columns first: network, IP address, hostname, host.
      print(
        ctx,
        ips,
        () =>
          `${table(
            ["network", "IP address", "hostname", "host", "instance", "reserved", "leased"],
            used.map((i) => [
              nets.get(i.networkId),
              i.address,
              i.hostname ?? "",
              i.instanceHost ?? i.host ?? "",
              i.instanceUuid ?? "",
              i.reserved,
              i.leased,
            ]),
          )}\n${ips.length} addresses, ${ips.length - used.length} free`,
      );
    },
  },
];

function fixedVerb(action: "reserve" | "unreserve"): Verb {
  return {
    name: `fixed ${action}`,
    summary: `${action === "reserve" ? "Reserve" : "Unreserve"} a fixed IP (flips the flag; never disassociates).`,
    options: { address: s("the fixed IP", "IP") },
    async run(ctx) {
      const a = strOpt(ctx, "address");
      if (!a) throw new UsageError(`fixed ${action}: --address IP is required`);
      await ctx.api.call("POST", `/v1/fixed-ips/${encodeURIComponent(a)}/${action}`);
      ctx.out(`${a} ${action}d`);
    },
  };
}

function networkTable(nets: Network[]): string {
  return table(
    [
      "id",
      "label",
      "IPv4",
      "IPv6",
      "start address",
      "DNS1",
      "DNS2",
      "VlanID",
      "vxlan",
      "bridge",
      "multi_host",
      "project",
      "host",
    ],
    nets.map((n) => [
      n.id,
      n.label,
      n.cidr,
      n.cidrV6,
      n.dhcpStart,
      n.dns1,
      n.dns2,
      n.vlan,
      n.vxlan,
      n.bridge,
      n.multiHost,
      n.projectId,
      n.host,
    ]),
  );
}
