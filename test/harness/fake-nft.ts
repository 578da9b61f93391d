/**
 * A fake `nft` for unit tests. It parses the transaction text it is fed (the commands netlet
 * emits: add/delete/flush of tables, chains, sets, maps, counters, rules and elements), applies
 * it to an in-memory ruleset with the kernel's rules that matter to netlet, and dumps the state
 * in a canonical form:
 *  - a transaction is atomic: any error leaves the ruleset as it was;
 *  - deleting or flushing something missing fails, and so does deleting an element that is not
 *    there, a chain that still has rules or is the target of a jump, goto or verdict-map element,
 *    or a set a rule still uses;
 *  - a rule or verdict element may only name chains, sets and counters that exist;
 *  - adding a map element whose key is there with another value fails (the kernel's EEXIST).
 * `dump()` is itself a transaction (one element per line, names sorted) that loads the same
 * state into an empty fake, so two rulesets compare as text.
 */
import { type Exec, stdinText } from "../../src/sys/exec.ts";

interface FakeChain {
  base: string | null;
  rules: string[];
}

interface FakeSet {
  map: boolean;
  spec: string;
  /** Element key → whole element text (`key : value` in a map). */
  elements: Map<string, string>;
}

interface FakeTable {
  counters: Set<string>;
  sets: Map<string, FakeSet>;
  chains: Map<string, FakeChain>;
}

const FAMILIES = new Set(["inet", "ip", "ip6", "bridge", "arp", "netdev"]);
const COMMAND = /^(add|delete|flush) (table|chain|set|map|element|rule|counter) (\S+) (\S+)(?: (\S+))?(?: (.*))?$/;
const NOENT = "Could not process rule: No such file or directory";
const BUSY = "Could not process rule: Device or resource busy";
const EXISTS = "Could not process rule: File exists";

/** Splits `{ a, b, "c" . d }` into its items (commas inside quotes or braces do not split). */
function items(body: string): string[] {
  const inner = body.trim().replace(/^\{/, "").replace(/\}$/, "");
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let cur = "";
  for (const ch of inner) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === "{") depth++;
    else if (!quoted && ch === "}") depth--;
    if (ch === "," && !quoted && depth === 0) {
      out.push(cur.trim());
      cur = "";
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

function keyOf(element: string, map: boolean): string {
  const i = map ? element.indexOf(" : ") : -1;
  return i < 0 ? element : element.slice(0, i);
}

function clone(r: Map<string, FakeTable>): Map<string, FakeTable> {
  const out = new Map<string, FakeTable>();
  for (const [name, t] of r) {
    out.set(name, {
      counters: new Set(t.counters),
      sets: new Map([...t.sets].map(([n, s]) => [n, { ...s, elements: new Map(s.elements) }])),
      chains: new Map([...t.chains].map(([n, c]) => [n, { base: c.base, rules: [...c.rules] }])),
    });
  }
  return out;
}

/** Sets and maps a rule names (`@name`; not raw payload expressions such as `@th,64,128`). */
function setRefs(text: string): string[] {
  return [...text.matchAll(/@([\w-]+)(?![\w,-])/g)].map((m) => m[1]);
}

/** Chains a rule or a verdict names (`jump x`, `goto x`). */
function chainRefs(text: string): string[] {
  return [...text.matchAll(/\b(?:jump|goto) (\S+)/g)].map((m) => m[1]);
}

export class FakeNft {
  #ruleset = new Map<string, FakeTable>();
  /** Transactions applied (refused ones not counted). */
  transactions = 0;

  /** Apply one transaction; throws (changing nothing) with nft-like text on the first bad line. */
  run(text: string): void {
    const next = clone(this.#ruleset);
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim();
      if (!line || line.startsWith("#")) continue;
      try {
        this.#apply(next, line);
      } catch (e) {
        throw new Error(`Error: ${(e as Error).message}\nline ${i + 1}: ${line}`);
      }
    }
    this.#ruleset = next;
    this.transactions++;
  }

  /** The ruleset as a canonical transaction (see the file comment). */
  dump(): string {
    const out: string[] = [];
    for (const name of [...this.#ruleset.keys()].sort()) {
      const t = this.#ruleset.get(name)!;
      out.push(`add table ${name}`);
      for (const c of [...t.counters].sort()) out.push(`add counter ${name} ${c}`);
      const sets = [...t.sets.keys()].sort();
      const chains = [...t.chains.keys()].sort();
      for (const s of sets)
        out.push(`add ${t.sets.get(s)!.map ? "map" : "set"} ${name} ${s} { ${t.sets.get(s)!.spec} }`);
      for (const c of chains) {
        const base = t.chains.get(c)!.base;
        out.push(`add chain ${name} ${c}${base ? ` { ${base} }` : ""}`);
      }
      for (const c of chains) for (const r of t.chains.get(c)!.rules) out.push(`add rule ${name} ${c} ${r}`);
      for (const s of sets)
        for (const e of [...t.sets.get(s)!.elements.values()].sort()) out.push(`add element ${name} ${s} { ${e} }`);
    }
    return out.map((l) => `${l}\n`).join("");
  }

  /** Names of the tables present, as `family name`. */
  tables(): string[] {
    return [...this.#ruleset.keys()].sort();
  }

  /** Elements of one set or map, sorted. */
  elements(table: string, set: string): string[] {
    return [...(this.#ruleset.get(table)?.sets.get(set)?.elements.values() ?? [])].sort();
  }

  /**
   * An Exec that answers `nft -f -` from this fake. `refuse(text)` may return an error message to
   * refuse a transaction as nft would; every other command fails as if it were not installed.
   */
  exec(refuse: (text: string) => string | null = () => null): Exec {
    return async (argv, stdin) => {
      if (argv.join(" ") !== "nft -f -") return { code: 127, stdout: "", stderr: `${argv[0]}: not found` };
      const text = (await stdinText(stdin)) ?? "";
      const refused = refuse(text);
      if (refused) return { code: 1, stdout: "", stderr: refused };
      try {
        this.run(text);
        return { code: 0, stdout: "", stderr: "" };
      } catch (e) {
        return { code: 1, stdout: "", stderr: (e as Error).message };
      }
    };
  }

  #apply(r: Map<string, FakeTable>, line: string): void {
    const m = COMMAND.exec(line);
    if (!m) throw new Error("syntax error");
    const [, verb, what, family, tableName, name, rest] = m;
    if (!FAMILIES.has(family)) throw new Error(`syntax error, unexpected family ${family}`);
    const ref = `${family} ${tableName}`;
    if (what === "table") {
      if (name !== undefined) throw new Error("syntax error");
      if (verb === "add") {
        if (!r.has(ref)) r.set(ref, { counters: new Set(), sets: new Map(), chains: new Map() });
      } else if (!r.has(ref)) throw new Error(NOENT);
      else if (verb === "delete") r.delete(ref);
      else {
        for (const c of r.get(ref)!.chains.values()) c.rules = [];
        for (const s of r.get(ref)!.sets.values()) s.elements.clear();
      }
      return;
    }
    const t = r.get(ref);
    if (!t || name === undefined) throw new Error(NOENT);
    if (what === "counter") this.#counter(t, verb, name);
    else if (what === "chain") this.#chain(t, verb, name, rest);
    else if (what === "set" || what === "map") this.#set(t, verb, name, what === "map", rest);
    else if (what === "rule") this.#rule(t, verb, name, rest ?? "");
    else this.#element(t, verb, name, rest ?? "");
  }

  #counter(t: FakeTable, verb: string, name: string): void {
    if (verb === "add") t.counters.add(name);
    else if (!t.counters.has(name)) throw new Error(NOENT);
    else if (verb === "delete") t.counters.delete(name);
  }

  #chain(t: FakeTable, verb: string, name: string, rest: string | undefined): void {
    const c = t.chains.get(name);
    const base = rest
      ? rest
          .trim()
          .replace(/^\{\s*/, "")
          .replace(/\s*\}$/, "")
      : null;
    if (verb === "add") {
      if (!c) t.chains.set(name, { base, rules: [] });
      else if (base !== null && c.base !== base) throw new Error(EXISTS);
      return;
    }
    if (!c) throw new Error(NOENT);
    if (verb === "flush") {
      c.rules = [];
      return;
    }
    if (c.rules.length > 0 || this.#chainInUse(t, name)) throw new Error(BUSY);
    t.chains.delete(name);
  }

  #chainInUse(t: FakeTable, name: string): boolean {
    for (const c of t.chains.values()) if (c.rules.some((rule) => chainRefs(rule).includes(name))) return true;
    for (const s of t.sets.values())
      if (s.map)
        for (const e of s.elements.values()) if (chainRefs(e.slice(keyOf(e, true).length)).includes(name)) return true;
    return false;
  }

  #set(t: FakeTable, verb: string, name: string, map: boolean, rest: string | undefined): void {
    const s = t.sets.get(name);
    if (verb === "add") {
      const spec = (rest ?? "")
        .trim()
        .replace(/^\{\s*/, "")
        .replace(/\s*\}$/, "");
      if (!spec.startsWith("type ") && !spec.startsWith("typeof ")) throw new Error("syntax error: set without type");
      if (!s) t.sets.set(name, { map, spec, elements: new Map() });
      else if (s.spec !== spec || s.map !== map) throw new Error(EXISTS);
      return;
    }
    if (!s || s.map !== map) throw new Error(NOENT);
    if (verb === "flush") s.elements.clear();
    else if ([...t.chains.values()].some((c) => c.rules.some((rule) => setRefs(rule).includes(name))))
      throw new Error(BUSY);
    else t.sets.delete(name);
  }

  #rule(t: FakeTable, verb: string, chain: string, text: string): void {
    if (verb !== "add") throw new Error(`syntax error: ${verb} rule is not supported`);
    const c = t.chains.get(chain);
    if (!c || !text) throw new Error(NOENT);
    for (const set of setRefs(text)) if (!t.sets.has(set)) throw new Error(NOENT);
    for (const m of text.matchAll(/counter name (\S+)/g)) if (!t.counters.has(m[1])) throw new Error(NOENT);
    for (const target of chainRefs(text)) if (!t.chains.has(target)) throw new Error(NOENT);
    c.rules.push(text);
  }

  #element(t: FakeTable, verb: string, set: string, body: string): void {
    const s = t.sets.get(set);
    if (!s) throw new Error(NOENT);
    if (verb === "flush") throw new Error("syntax error");
    for (const e of items(body)) {
      const key = keyOf(e, s.map);
      const old = s.elements.get(key);
      if (verb === "delete") {
        if (old === undefined) throw new Error(NOENT);
        s.elements.delete(key);
        continue;
      }
      if (s.map && !e.includes(" : ")) throw new Error("syntax error: map element without a value");
      for (const target of chainRefs(e.slice(key.length))) if (!t.chains.has(target)) throw new Error(NOENT);
      if (old !== undefined && old !== e) throw new Error(EXISTS);
      s.elements.set(key, e);
    }
  }
}
