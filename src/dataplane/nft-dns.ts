/**
 * The instance DNS service is for guests only: port 53 on the bridges' host addresses is closed
 * to every link that is not a served bridge (the public side, the underlay, a routed outsider).
 * Guests on another served bridge still reach the server, which refuses them itself. The sets
 * depend on the networks alone, so per-instance deltas never touch them.
 */
import type { DesiredState } from "./desired.ts";
import { addChain, addSet, type Table } from "./nft-model.ts";

export function addDnsGuard(t: Table, d: DesiredState): void {
  const served = d.networks.filter((n) => n.hostAddress || n.hostAddressV6);
  t.counters.push("drop-dns");
  addSet(t, "dns-if", "type ifname;", [...new Set(served.map((n) => `"${n.bridge}"`))]);
  addSet(t, "dns4", "type ipv4_addr;", [...new Set(served.flatMap((n) => (n.hostAddress ? [n.hostAddress] : [])))]);
  addSet(t, "dns6", "type ipv6_addr;", [...new Set(served.flatMap((n) => (n.hostAddressV6 ? [n.hostAddressV6] : [])))]);
  const rules = ["ip daddr @dns4", "ip6 daddr @dns6"].flatMap((dst) =>
    ["udp", "tcp"].map((p) => `${dst} ${p} dport 53 iifname != @dns-if counter name drop-dns drop`),
  );
  addChain(t, "dns-guard", rules, "type filter hook input priority 0; policy accept;");
}
