/**
 * An in-memory picture of the nftables tables netlet owns, and the two ways to write it: a
 * whole-table replace (`add table; delete table; add table; …` in one transaction) and a delta
 * between two pictures (element adds/deletes, chain flush + refill). Rules stay static; per-VM
 * data lives in set and map elements, so most deltas are element updates.
 */

export type Family = "inet" | "ip" | "ip6" | "bridge";

export interface SetDef {
  /** Body inside `{ … }` without elements, e.g. `type ipv4_addr; flags interval;`. */
  spec: string;
  /** Element texts; for a map `key : value`. */
  elements: string[];
  map: boolean;
}

export interface ChainDef {
  /** Base chain body, e.g. `type filter hook forward priority 0; policy accept;`, or null. */
  spec: string | null;
  rules: string[];
}

export interface Table {
  family: Family;
  name: string;
  counters: string[];
  sets: Map<string, SetDef>;
  chains: Map<string, ChainDef>;
}

export function newTable(family: Family, name: string): Table {
  return { family, name, counters: [], sets: new Map(), chains: new Map() };
}

export function addChain(t: Table, name: string, rules: string[] = [], spec: string | null = null): void {
  t.chains.set(name, { spec, rules });
}

export function addSet(t: Table, name: string, spec: string, elements: string[] = [], map = false): void {
  t.sets.set(name, { spec, elements, map });
}

/**
 * The lists `pick(item)` of every item, concatenated into one array sized up front: it runs over
 * every element of a 10,000-instance host on every pass, where growing an array by `push` cost
 * several times more.
 */
export function gather<T>(items: readonly T[], pick: (item: T) => readonly string[]): string[] {
  let n = 0;
  for (let i = 0; i < items.length; i++) n += pick(items[i]).length;
  const out = new Array<string>(n);
  let k = 0;
  for (let i = 0; i < items.length; i++) {
    const list = pick(items[i]);
    for (let j = 0; j < list.length; j++) out[k++] = list[j];
  }
  return out;
}

/**
 * `gather` over one list of per-instance pieces, remembered while the next build's list holds the
 * same piece objects in the same order (pieces never change once made): a pass in which no
 * instance changed — a member or a floating IP did — reuses every element list, and the diff
 * then skips them by identity.
 */
export class GatherMemo<T> {
  #items: readonly T[] = [];
  #lists = new Map<string, string[]>();

  /** Start a build over `items`. */
  begin(items: readonly T[]): void {
    if (items.length !== this.#items.length || items.some((x, i) => x !== this.#items[i])) this.#lists = new Map();
    this.#items = items;
  }

  /** `gather(items, pick)`, named `name` (the same name must always pick the same lists). */
  gather(name: string, pick: (item: T) => readonly string[]): string[] {
    let list = this.#lists.get(name);
    if (!list) this.#lists.set(name, (list = gather(this.#items, pick)));
    return list;
  }
}

function ref(t: Table): string {
  return `${t.family} ${t.name}`;
}

/** Element key: the part before ` : ` in a map element. */
function elementKey(e: string, map: boolean): string {
  if (!map) return e;
  const i = e.indexOf(" : ");
  return i < 0 ? e : e.slice(0, i);
}

/** Chunks keep each `add element` line bounded; nft parses one huge line slowly. */
function elementLines(verb: string, t: Table, set: string, elems: string[], out: string[]): void {
  for (let i = 0; i < elems.length; i += ELEMENTS_PER_LINE) {
    out.push(`${verb} element ${ref(t)} ${set} { ${elems.slice(i, i + ELEMENTS_PER_LINE).join(", ")} }`);
  }
}

const ELEMENTS_PER_LINE = 1000;

/**
 * Whole-table replace of each table as transaction text, in pieces of about `lines` lines, so
 * that a caller can yield to the event loop between pieces of a 10,000-instance ruleset.
 */
export function* tableChunks(tables: Table[], lines = 200): Generator<string> {
  let out: string[] = [];
  const flush = function* (force: boolean) {
    if (out.length >= lines || (force && out.length > 0)) {
      yield `${out.join("\n")}\n`;
      out = [];
    }
  };
  for (const t of tables) {
    out.push(`add table ${ref(t)}`, `delete table ${ref(t)}`, `add table ${ref(t)}`);
    for (const c of t.counters) out.push(`add counter ${ref(t)} ${c}`);
    for (const [name, s] of t.sets) out.push(`add ${s.map ? "map" : "set"} ${ref(t)} ${name} { ${s.spec} }`);
    // Regular chains first, so that jumps/gotos in rules and map elements resolve.
    for (const [name, c] of t.chains) {
      if (!c.spec) out.push(`add chain ${ref(t)} ${name}`);
      yield* flush(false);
    }
    for (const [name, c] of t.chains) {
      if (c.spec) continue;
      for (const r of c.rules) out.push(`add rule ${ref(t)} ${name} ${r}`);
      yield* flush(false);
    }
    for (const [name, s] of t.sets) {
      // Element lines are long: yield after each one.
      for (let i = 0; i < s.elements.length; i += ELEMENTS_PER_LINE) {
        out.push(`add element ${ref(t)} ${name} { ${s.elements.slice(i, i + ELEMENTS_PER_LINE).join(", ")} }`);
        yield* flush(true);
      }
    }
    for (const [name, c] of t.chains) {
      if (!c.spec) continue;
      out.push(`add chain ${ref(t)} ${name} { ${c.spec} }`);
      for (const r of c.rules) out.push(`add rule ${ref(t)} ${name} ${r}`);
    }
  }
  yield* flush(true);
}

/** Whole-table replace of each table, as one transaction text. */
export function renderTables(tables: Table[]): string {
  return [...tableChunks(tables)].join("");
}

/** Text that removes tables netlet no longer wants (safe when they do not exist). */
export function renderRemoval(family: Family, name: string): string {
  return `add table ${family} ${name}\ndelete table ${family} ${name}\n`;
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * The shape of a table without per-VM content: counters and base chains. When it
 * changes, a delta is not attempted and the table is replaced whole.
 */
function skeleton(t: Table): string {
  const base = [...t.chains]
    .filter(([, c]) => c.spec)
    .map(([n, c]) => `${n}{${c.spec}}${c.rules.join(";")}`)
    .join(";");
  return `${t.counters.join(",")}|${base}`;
}

/**
 * Incremental transaction from `prev` to `next` for one table, or null when the table's
 * skeleton changed (the caller then replaces it whole). Returns "" when nothing differs.
 */
export function diffTable(prev: Table, next: Table): string | null {
  if (skeleton(prev) !== skeleton(next)) return null;
  const r = ref(next);
  const adds: string[] = [];
  const fills: string[] = [];
  const elemDel: string[] = [];
  const elemAdd: string[] = [];
  const drops: string[] = [];
  for (const [name, s] of next.sets) {
    const old = prev.sets.get(name);
    if (old && (old.spec !== s.spec || old.map !== s.map)) return null;
    if (!old) adds.push(`add ${s.map ? "map" : "set"} ${r} ${name} { ${s.spec} }`);
  }
  for (const [name, c] of next.chains) {
    if (c.spec) continue;
    const old = prev.chains.get(name);
    if (!old) adds.push(`add chain ${r} ${name}`);
    else if (old.rules === c.rules || sameList(old.rules, c.rules)) continue;
    else fills.push(`flush chain ${r} ${name}`);
    for (const rule of c.rules) fills.push(`add rule ${r} ${name} ${rule}`);
  }
  for (const [name, s] of next.sets) {
    const old = prev.sets.get(name)?.elements ?? [];
    if (old === s.elements) continue;
    // Element lists mostly keep their order between two builds: skip the common head and tail
    // cheaply and compare only the middle.
    const cur = s.elements;
    let head = 0;
    while (head < old.length && head < cur.length && old[head] === cur[head]) head++;
    let tail = 0;
    while (
      tail < old.length - head &&
      tail < cur.length - head &&
      old[old.length - 1 - tail] === cur[cur.length - 1 - tail]
    )
      tail++;
    const oldMid = old.slice(head, old.length - tail);
    const curMid = cur.slice(head, cur.length - tail);
    const before = new Set(oldMid);
    const after = new Set(curMid);
    // A map element whose value changed is deleted by key, then added with the new value.
    const gone = oldMid.filter((e) => !after.has(e)).map((e) => elementKey(e, s.map));
    const fresh = curMid.filter((e) => !before.has(e));
    elementLines("delete", next, name, gone, elemDel);
    elementLines("add", next, name, fresh, elemAdd);
  }
  for (const [name, c] of prev.chains) {
    if (!c.spec && !next.chains.has(name)) drops.push(`flush chain ${r} ${name}`);
  }
  for (const [name, s] of prev.sets)
    if (!next.sets.has(name)) drops.push(`delete ${s.map ? "map" : "set"} ${r} ${name}`);
  for (const [name, c] of prev.chains) if (!c.spec && !next.chains.has(name)) drops.push(`delete chain ${r} ${name}`);
  // Order matters: new chains before rules that jump to them; old map elements (gotos) and
  // rules referencing a chain are gone before the chain is deleted.
  return [...adds, ...fills, ...elemDel, ...elemAdd, ...drops].map((l) => `${l}\n`).join("");
}
