/**
 * Data for `netlet dataplane show`: what is programmed for each local instance, derived from
 * the same desired state the renderers used (the CLI prints it; drop totals come from
 * `Dataplane.readDrops`).
 */
import type { DesiredState, GroupSpec, RuleSpec } from "./desired.ts";
import { ipChainIn, ipChainOut } from "./iptables-render.ts";
import { chainIn, chainOut, nftGroupRule } from "./nft-filter.ts";
import { groupIndex, hasEgress } from "./sg-rules.ts";

export interface ShownVif {
  mac: string;
  bridge: string;
  port: string | null;
  ipv4: string | null;
  ipv6: string | null;
  ipv6LinkLocal: string;
  /** "bound" when the bridge table pins this port to the addresses above; "not plugged": no traffic passes. */
  antiSpoofing: "bound" | "not plugged" | "off";
}

export interface ShownGroup {
  id: string;
  name: string;
  ingress: string[];
  egress: string[];
}

export interface ShownInstance {
  uuid: string;
  name: string;
  vifs: ShownVif[];
  groups: ShownGroup[];
  /** False when no group has egress rules: egress is then unrestricted, as in nova. */
  egressFiltered: boolean;
  floatingIps: { address: string; fixedAddress: string; interface: string }[];
  /** Where this instance's rules live, for `nft list chain` / `iptables -L`. */
  chains: string[];
}

export interface DataplaneShow {
  driver: DesiredState["config"]["firewallDriver"];
  snat: string;
  instances: ShownInstance[];
  drops: Record<string, number>;
}

/** Human-readable text of one rule (nft syntax, or a note when it is invalid). */
function ruleText(r: RuleSpec): string {
  return (
    nftGroupRule(r) ?? `ignored: ${r.protocol} ${r.fromPort}:${r.toPort} ${r.cidr ?? r.sourceGroupId ?? ""}`.trim()
  );
}

function showGroup(g: GroupSpec): ShownGroup {
  return {
    id: g.id,
    name: g.name,
    ingress: g.rules.filter((r) => r.direction === "ingress").map(ruleText),
    egress: g.rules.filter((r) => r.direction === "egress").map(ruleText),
  };
}

/** What is programmed per instance under `d`, with optional drop totals per reason. */
export function dataplaneShow(d: DesiredState, drops: Record<string, number> = {}): DataplaneShow {
  const groups = groupIndex(d.groups);
  const driver = d.config.firewallDriver;
  const instances = d.instances.map((inst): ShownInstance => {
    const gs = inst.groups.map((id) => groups.get(id)).filter((g): g is GroupSpec => !!g);
    const egressFiltered = gs.some(hasEgress);
    const fixed = new Set(inst.vifs.map((v) => v.ipv4).filter(Boolean));
    let chains: string[] = [];
    if (driver === "nftables")
      chains = [`inet netlet ${chainIn(inst)}`, ...(egressFiltered ? [`inet netlet ${chainOut(inst)}`] : [])];
    if (driver === "iptables")
      chains = [`filter ${ipChainIn(inst)}`, ...(egressFiltered ? [`filter ${ipChainOut(inst)}`] : [])];
    return {
      uuid: inst.uuid,
      name: inst.name,
      vifs: inst.vifs.map((v) => ({
        mac: v.mac,
        bridge: v.bridge,
        port: v.port,
        ipv4: v.ipv4,
        ipv6: v.ipv6,
        ipv6LinkLocal: v.ipv6LinkLocal,
        antiSpoofing: driver === "noop" ? "off" : v.port ? "bound" : "not plugged",
      })),
      groups: gs.map(showGroup),
      egressFiltered,
      floatingIps: d.floatingIps.filter((f) => fixed.has(f.fixedAddress)),
      chains,
    };
  });
  const c = d.config;
  const snat = `${c.routingSourceIp ? `snat to ${c.routingSourceIp}` : "masquerade"}${c.publicInterface ? ` out ${c.publicInterface}` : ""}`;
  return { driver, snat, instances, drops };
}
