/**
 * `render(desired)` → one nft transaction that replaces every table netlet owns for the chosen
 * driver (and removes the ones it does not use); `renderDelta(prev, next)` → the element and
 * chain updates between two desired states. Both are pure.
 *
 * Tables by driver: nftables = `inet netlet` + `bridge netlet` + `ip netlet-nat`;
 * iptables = `bridge netlet` (anti-spoofing) only, the rest is iptables; noop = `ip netlet-nat`.
 */
import type { DesiredState, FirewallDriver } from "./desired.ts";
import { bridgeTable, BRIDGE_TABLE } from "./nft-bridge.ts";
import { filterTable, FILTER_TABLE } from "./nft-filter.ts";
import { diffTable, renderRemoval, renderTables, type Family, type Table } from "./nft-model.ts";
import { natTable, NAT_TABLE } from "./nft-nat.ts";

interface TableKind {
  family: Family;
  name: string;
  build: (d: DesiredState) => Table;
  drivers: FirewallDriver[];
}

const KINDS: TableKind[] = [
  { family: "inet", name: FILTER_TABLE, build: filterTable, drivers: ["nftables"] },
  { family: "bridge", name: BRIDGE_TABLE, build: bridgeTable, drivers: ["nftables", "iptables"] },
  { family: "ip", name: NAT_TABLE, build: natTable, drivers: ["nftables", "noop"] },
];

/** Every nft table netlet may own, as `family name`. */
export const OWNED_TABLES: readonly string[] = KINDS.map((k) => `${k.family} ${k.name}`);

/** The tables the desired state's driver uses, built. */
export function buildTables(d: DesiredState): Table[] {
  return KINDS.filter((k) => k.drivers.includes(d.config.firewallDriver)).map((k) => k.build(d));
}

/** Full sync: replace each used table, delete the unused ones, in one transaction. */
export function render(d: DesiredState): string {
  const used = KINDS.filter((k) => k.drivers.includes(d.config.firewallDriver));
  const unused = KINDS.filter((k) => !used.includes(k));
  return renderTables(used.map((k) => k.build(d))) + unused.map((k) => renderRemoval(k.family, k.name)).join("");
}

/**
 * Incremental sync from `prev` to `next`. Falls back to replacing a table whole when its
 * skeleton (base chains, counters, set types) changed, and to a full render when the driver did.
 */
export function renderDelta(prev: DesiredState, next: DesiredState): string {
  if (prev.config.firewallDriver !== next.config.firewallDriver) return render(next);
  const before = buildTables(prev);
  const after = buildTables(next);
  let out = "";
  for (let i = 0; i < after.length; i++) {
    const delta = diffTable(before[i], after[i]);
    out += delta ?? renderTables([after[i]]);
  }
  return out;
}
