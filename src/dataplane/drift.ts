/**
 * Pure helpers for drift detection and counter read-back: what the kernel shows, parsed, and
 * compared with what netlet rendered. Rule counts per chain catch a flushed chain, a dropped
 * jump and a deleted table; element counts per set catch a removed or added binding (a port
 * taken out of `vm-ports` would otherwise pass unchecked until the next full sync).
 */
import type { IptablesExisting } from "./iptables-render.ts";
import type { Table } from "./nft-model.ts";

/** Differences between expected iptables chains (per table) and `iptables-save` contents. */
export function iptablesDrift(
  expected: Record<string, Map<string, string[]>>,
  ex: IptablesExisting,
  jumps: Record<string, [string, string][]>,
  fam: string,
): string[] {
  const out: string[] = [];
  for (const [table, chains] of Object.entries(expected)) {
    for (const [name, rules] of chains) {
      const key = `${table} ${name}`;
      if (!ex.chains.has(key)) out.push(`${fam} ${key} is missing`);
      else if ((ex.rules.get(key) ?? 0) !== rules.length)
        out.push(`${fam} ${key} has ${ex.rules.get(key) ?? 0} rules, expected ${rules.length}`);
    }
    for (const [builtin, target] of jumps[table] ?? []) {
      if (chains.has(target) && !ex.jumps.has(`${table} ${builtin} ${target}`))
        out.push(`${fam} ${table} ${builtin} lacks its jump to ${target}`);
    }
  }
  return out;
}

/** Named counters of netlet's tables from `nft -j list counters`: `family/table/name` → packets. */
export function parseNftCounters(json: string, owned: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  let doc: { nftables?: { counter?: { family: string; table: string; name: string; packets: number } }[] };
  try {
    doc = JSON.parse(json);
  } catch {
    return out;
  }
  for (const o of doc.nftables ?? []) {
    const c = o.counter;
    if (c && owned.includes(`${c.family} ${c.table}`)) out.set(c.name, (out.get(c.name) ?? 0) + c.packets);
  }
  return out;
}

/** Packets of the DROP rule in each `netlet-drop-<reason>` chain, from `iptables-save -c`. */
export function parseIptablesDrops(save: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of save.split("\n")) {
    const m = /^\[(\d+):\d+\] -A netlet-(drop-[a-z]+) -j DROP$/.exec(line);
    if (m) out.set(m[2], (out.get(m[2]) ?? 0) + Number(m[1]));
  }
  return out;
}

/** Rule counts per chain and element counts per set or map, from `nft -j list table …`. */
export function nftJsonCounts(json: string): { chains: Map<string, number>; sets: Map<string, number> } | null {
  let doc: { nftables?: Record<string, { name?: string; chain?: string; elem?: unknown[] }>[] };
  try {
    doc = JSON.parse(json);
  } catch {
    return null;
  }
  const chains = new Map<string, number>();
  const sets = new Map<string, number>();
  for (const o of doc.nftables ?? []) {
    if (o.chain?.name) chains.set(o.chain.name, chains.get(o.chain.name) ?? 0);
    if (o.rule?.chain) chains.set(o.rule.chain, (chains.get(o.rule.chain) ?? 0) + 1);
    const s = o.set ?? o.map;
    if (s?.name) sets.set(s.name, s.elem?.length ?? 0);
  }
  return { chains, sets };
}

/** Differences between a table and its JSON listing (null: the table is missing). */
export function nftJsonDrift(t: Table, json: string | null): string[] {
  const got = json === null ? null : nftJsonCounts(json);
  if (got === null) return [`table ${t.family} ${t.name} is missing`];
  const out: string[] = [];
  for (const [name, c] of t.chains) {
    const n = got.chains.get(name);
    if (n === undefined) out.push(`chain ${t.family} ${t.name} ${name} is missing`);
    else if (n !== c.rules.length)
      out.push(`chain ${t.family} ${t.name} ${name} has ${n} rules, expected ${c.rules.length}`);
  }
  for (const [name, s] of t.sets) {
    // Interval sets may merge adjacent ranges: their counts are not comparable.
    if (/\binterval\b/.test(s.spec)) continue;
    const n = got.sets.get(name);
    if (n === undefined) out.push(`set ${t.family} ${t.name} ${name} is missing`);
    else if (n !== new Set(s.elements).size)
      out.push(`set ${t.family} ${t.name} ${name} has ${n} elements, expected ${new Set(s.elements).size}`);
  }
  return out;
}
