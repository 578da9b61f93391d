/**
 * NAT in table `ip netlet-nat`, following nova-network's linux_net: metadata DNAT of
 * 169.254.169.254:80 to this host's address on the VM's bridge, exemptions (metadata host,
 * dmz_cidr, intra-network traffic that was not DNATed), floating IP DNAT/SNAT through maps
 * (so associating one is an element update), force_snat_range, and SNAT of the fixed ranges
 * to routing_source_ip — or masquerade when it is unset — out of public_interface.
 */
import type { DesiredState } from "./desired.ts";
import { addChain, addSet, newTable, type Table } from "./nft-model.ts";
import { addrFamily } from "./sg-rules.ts";

export const NAT_TABLE = "netlet-nat";
export const METADATA_IP = "169.254.169.254";

const v4 = (c: string) => addrFamily(c) === 4;

/** SNAT verdict: a fixed source address, or masquerade. */
function snatTo(d: DesiredState): string {
  return d.config.routingSourceIp ? `snat to ${d.config.routingSourceIp}` : "masquerade";
}

function preroutingRules(d: DesiredState): string[] {
  const rules: string[] = [];
  const { metadataHost, metadataPort } = d.config;
  for (const n of d.networks) {
    if (!n.cidr) continue;
    const target = metadataHost ?? n.hostAddress;
    if (!target) continue;
    // DNAT to 127.0.0.1 from a bridge needs route_localnet; nova used REDIRECT for it.
    const verdict = target === "127.0.0.1" ? `redirect to :${metadataPort}` : `dnat to ${target}:${metadataPort}`;
    rules.push(`iifname "${n.bridge}" ip daddr ${METADATA_IP} tcp dport 80 ${verdict}`);
  }
  rules.push("dnat to ip daddr map @fip-dnat");
  return rules;
}

function postroutingRules(d: DesiredState): string[] {
  const c = d.config;
  const rules: string[] = [];
  if (c.metadataHost && v4(c.metadataHost)) rules.push(`ip saddr @fixed ip daddr ${c.metadataHost} accept`);
  rules.push("ip saddr @fixed ip daddr @dmz accept");
  for (const n of d.networks) if (n.cidr) rules.push(`ip saddr ${n.cidr} ip daddr ${n.cidr} ct status != dnat accept`);
  // Floating IPs: replies of DNATed flows and hairpin (nova POSTROUTING --ctstate DNAT), then
  // outbound traffic on the floating IP's interface (nova float-snat -o).
  rules.push("ct status dnat snat to ip saddr map @fip-snat");
  rules.push("snat to oifname . ip saddr map @fip-snat-oif");
  rules.push(`ip saddr @fixed ip daddr @force-snat ${snatTo(d)}`);
  const oif = c.publicInterface ? `oifname "${c.publicInterface}" ` : "";
  rules.push(`${oif}ip saddr @fixed ${snatTo(d)}`);
  return rules;
}

/** Build table `ip netlet-nat` from the desired state. */
export function natTable(d: DesiredState): Table {
  const t = newTable("ip", NAT_TABLE);
  const interval = "type ipv4_addr; flags interval; auto-merge;";
  addSet(
    t,
    "fixed",
    interval,
    d.networks.map((n) => n.cidr).filter((x): x is string => !!x && v4(x)),
  );
  addSet(t, "dmz", interval, d.config.dmzCidr.filter(v4));
  addSet(t, "force-snat", interval, d.config.forceSnatRange.filter(v4));
  const fips = d.floatingIps.filter((f) => v4(f.address) && v4(f.fixedAddress));
  addSet(
    t,
    "fip-dnat",
    "type ipv4_addr : ipv4_addr;",
    fips.map((f) => `${f.address} : ${f.fixedAddress}`),
    true,
  );
  addSet(
    t,
    "fip-snat",
    "type ipv4_addr : ipv4_addr;",
    fips.map((f) => `${f.fixedAddress} : ${f.address}`),
    true,
  );
  addSet(
    t,
    "fip-snat-oif",
    "type ifname . ipv4_addr : ipv4_addr;",
    fips.map((f) => `"${f.interface}" . ${f.fixedAddress} : ${f.address}`),
    true,
  );
  addChain(t, "prerouting", preroutingRules(d), "type nat hook prerouting priority dstnat; policy accept;");
  // The symbolic priority dstnat is rejected on the output hook by nft 1.0.6.
  addChain(t, "output", ["dnat to ip daddr map @fip-dnat"], "type nat hook output priority -100; policy accept;");
  addChain(t, "postrouting", postroutingRules(d), "type nat hook postrouting priority srcnat; policy accept;");
  return t;
}
