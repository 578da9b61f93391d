/**
 * `render(desired)` → one nft transaction that replaces every table netlet owns for the chosen
 * driver (and removes the ones it does not use); `renderDelta(prev, next)` → the element and
 * chain updates between two desired states. Both are pure.
 *
 * Tables by driver: nftables = `inet netlet` + `bridge netlet` + `ip netlet-nat`;
 * iptables = `bridge netlet` (anti-spoofing) only, the rest is iptables; noop = `ip netlet-nat`.
 */
import type { DesiredState, FirewallDriver } from "./desired.ts";
import { binding, bridgeTable, BRIDGE_TABLE } from "./nft-bridge.ts";
import { filterTable, FILTER_TABLE, filterTableSteps, warmFilter } from "./nft-filter.ts";
import { diffTable, renderRemoval, renderTables, tableChunks, type Family, type Table } from "./nft-model.ts";
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
  return renderTableDelta(buildTables(prev), buildTables(next));
}

/** Delta between two built table lists of the same driver (see `renderDelta`). */
export function renderTableDelta(before: Table[], after: Table[]): string {
  let out = "";
  for (let i = 0; i < after.length; i++) {
    const delta = diffTable(before[i], after[i]);
    out += delta ?? renderTables([after[i]]);
  }
  return out;
}

/** Resolves after pending I/O and timers had a turn. */
export type Pause = () => Promise<void>;

const nextTurn: Pause = () => new Promise((r) => setImmediate(r));

/**
 * `render(d)` as pieces, yielding to the event loop between slices of instances and between
 * pieces of text, so that a 10,000-instance full sync never stalls the agent for long.
 */
export async function renderChunks(
  d: DesiredState,
  turn: Pause = nextTurn,
  budgetMs = 4,
): Promise<{ text: string[]; tables: Table[] }> {
  // Yield only once the current slice of work has used its time budget: yielding after every
  // piece would cost more than the rendering itself on small hosts.
  let since = performance.now();
  const pause = async () => {
    if (performance.now() - since < budgetMs) return;
    await turn();
    since = performance.now();
  };
  const SLICE = 200;
  for (let i = 0; i < d.instances.length; i += SLICE) {
    if (d.config.firewallDriver === "nftables") warmFilter(d, i, i + SLICE);
    if (d.config.firewallDriver !== "noop") for (const inst of d.instances.slice(i, i + SLICE)) binding(inst);
    await pause();
  }
  const used = KINDS.filter((k) => k.drivers.includes(d.config.firewallDriver));
  const out: string[] = [];
  const tables: Table[] = [];
  for (const k of used) {
    let t: Table;
    if (k.build === filterTable) {
      const steps = filterTableSteps(d);
      for (let r = steps.next(); ; r = steps.next()) {
        if (r.done) {
          t = r.value;
          break;
        }
        await pause();
      }
    } else t = k.build(d);
    tables.push(t);
    await pause();
    for (const chunk of tableChunks([t])) {
      out.push(chunk);
      await pause();
    }
  }
  out.push(
    KINDS.filter((k) => !used.includes(k))
      .map((k) => renderRemoval(k.family, k.name))
      .join(""),
  );
  return { text: coalesce(out, 1 << 20), tables };
}

/** Joins small pieces into pieces of about `size` characters (fewer pipe writes). */
function coalesce(pieces: string[], size: number): string[] {
  const out: string[] = [];
  let cur: string[] = [];
  let n = 0;
  for (const p of pieces) {
    cur.push(p);
    n += p.length;
    if (n >= size) {
      out.push(cur.join(""));
      cur = [];
      n = 0;
    }
  }
  if (cur.length) out.push(cur.join(""));
  return out;
}
