/**
 * The one way nft text is made: desired state → typed tables (`TableBuilder`) → either a
 * whole-table replace (`tableChunks`) or a diff against the tables applied last (`diffTable`).
 * A `TableBuilder` belongs to one Dataplane and remembers each instance's share of the tables
 * between builds (see nft-cache.ts); `render` and `renderDelta` are the same path with a
 * builder of their own.
 *
 * Tables by driver: nftables = `inet netlet` + `bridge netlet` + `ip netlet-nat`;
 * iptables = `bridge netlet` (anti-spoofing) only, the rest is iptables; noop = `ip netlet-nat`.
 */
import { type DesiredState, type FirewallDriver, shortKeys } from "./desired.ts";
import { type Binding, binding, bridgeTable, BRIDGE_TABLE } from "./nft-bridge.ts";
import { type Pieces, PiecesCache } from "./nft-cache.ts";
import { drain, FILTER_TABLE, filterContext, filterTableSteps, type Fragment, fragment } from "./nft-filter.ts";
import { diffTable, GatherMemo, renderRemoval, renderTables, type Family, type Table } from "./nft-model.ts";
import { natTable, NAT_TABLE } from "./nft-nat.ts";
import { groupIndex } from "./sg-rules.ts";

interface TableKind {
  family: Family;
  name: string;
  drivers: FirewallDriver[];
}

const KINDS: readonly TableKind[] = [
  { family: "inet", name: FILTER_TABLE, drivers: ["nftables"] },
  { family: "bridge", name: BRIDGE_TABLE, drivers: ["nftables", "iptables"] },
  { family: "ip", name: NAT_TABLE, drivers: ["nftables", "noop"] },
];

/** Every nft table netlet may own, as `family name`. */
export const OWNED_TABLES: readonly string[] = KINDS.map((k) => `${k.family} ${k.name}`);

const used = (d: DesiredState) => KINDS.filter((k) => k.drivers.includes(d.config.firewallDriver));

/** Text that removes the tables the desired state's driver does not use. */
export function renderUnused(d: DesiredState): string {
  return KINDS.filter((k) => !k.drivers.includes(d.config.firewallDriver))
    .map((k) => renderRemoval(k.family, k.name))
    .join("");
}

/** Instances per slice of work between two yields of a build. */
const SLICE = 100;

/** Builds the tables of a desired state, remembering per-instance pieces between builds. */
export class TableBuilder {
  readonly #pieces = new PiecesCache();
  readonly #names = new Map<string, string>();
  readonly #maps = new GatherMemo<Fragment>();
  readonly #bindings = new GatherMemo<Binding>();
  /** Member sets of the last build: their source list and its distinct addresses. */
  #members = new Map<string, { list: string[]; distinct: string[] }>();
  #membersNext = new Map<string, { list: string[]; distinct: string[] }>();

  /**
   * The tables `d`'s driver uses, in transaction order, one at a time (`onTable` sees each as
   * soon as it is built); yields between slices of instances so that a caller can let the
   * event loop run.
   */
  *steps(d: DesiredState, onTable: (t: Table) => void = () => {}): Generator<void, Table[]> {
    const key = shortKeys(this.#names);
    const groups = groupIndex(d.groups);
    const kinds = used(d);
    this.#pieces.begin(filterContext(d));
    const pieces: Pieces[] = [];
    for (let i = 0; i < d.instances.length; i++) {
      if ((i + 1) % SLICE === 0) yield;
      pieces.push(this.#pieces.of(d.instances[i]));
    }
    this.#pieces.end();
    const out: Table[] = [];
    for (const k of kinds) {
      let t: Table;
      if (k.name === FILTER_TABLE && k.family === "inet") {
        const fragmentAt = (i: number) => (pieces[i].fragment ??= fragment(d, d.instances[i], groups, key));
        const distinct = (set: string, list: string[]) => this.#distinct(set, list);
        t = yield* filterTableSteps(d, { fragmentAt, key, distinct, maps: this.#maps }, SLICE);
      } else if (k.family === "bridge") {
        const bindings: Binding[] = [];
        for (let i = 0; i < pieces.length; i++) {
          if ((i + 1) % SLICE === 0) yield;
          bindings.push((pieces[i].binding ??= binding(d.instances[i])));
        }
        t = bridgeTable(d, bindings, this.#bindings);
      } else t = natTable(d);
      out.push(t);
      onTable(t);
      yield;
    }
    // Member sets not in this build are forgotten.
    this.#members = this.#membersNext;
    this.#membersNext = new Map();
    return out;
  }

  /**
   * `list` without repeats; the previous answer while the list is the same (comparing is much
   * cheaper than hashing every address of every source group on every pass).
   */
  #distinct(set: string, list: string[]): string[] {
    const last = this.#members.get(set);
    const same = last && (last.list === list || sameList(last.list, list));
    const entry = same ? last : { list, distinct: [...new Set(list)] };
    this.#membersNext.set(set, entry);
    return entry.distinct;
  }

  /** `steps` run to completion. */
  build(d: DesiredState): Table[] {
    return drain(this.steps(d));
  }
}

function sameList(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The tables the desired state's driver uses, built. */
export function buildTables(d: DesiredState): Table[] {
  return new TableBuilder().build(d);
}

/** Full sync: replace each used table, delete the unused ones, in one transaction. */
export function render(d: DesiredState): string {
  return renderTables(buildTables(d)) + renderUnused(d);
}

/**
 * Incremental sync from `prev` to `next`: a full render when the driver changed, else the diff
 * of their tables (see `renderTableDelta`).
 */
export function renderDelta(prev: DesiredState, next: DesiredState): string {
  if (prev.config.firewallDriver !== next.config.firewallDriver) return render(next);
  const b = new TableBuilder();
  return renderTableDelta(b.build(prev), b.build(next));
}

/**
 * Delta between two built table lists of the same driver. A table whose skeleton (base chains,
 * counters, set types) changed is replaced whole.
 */
export function renderTableDelta(before: Table[], after: Table[]): string {
  let out = "";
  for (let i = 0; i < after.length; i++) {
    const delta = diffTable(before[i], after[i]);
    out += delta ?? renderTables([after[i]]);
  }
  return out;
}
