/**
 * What a Dataplane remembers between two builds of its tables: each instance's share of them
 * (filter fragment, bridge binding), keyed by the instance's id and kept while the instance's
 * content is the same (compared field by field: no object identity needed, nothing serialised),
 * so that a pass in which one instance changed recomputes that one only. The element
 * texts kept here are then the very strings of the last build, which makes the diff between two
 * builds compare pointers rather than characters. Entries of instances that left are dropped at
 * the end of each build: the cache is never larger than the host's state.
 */
import type { InstanceOnHost, VifOnHost } from "./desired.ts";
import type { Binding } from "./nft-bridge.ts";
import type { Fragment } from "./nft-filter.ts";

export interface Pieces {
  /** The instance the pieces were computed from (its latest equal copy). */
  instance: InstanceOnHost;
  fragment: Fragment | null;
  binding: Binding | null;
  build: number;
}

/** Every field of a VIF; the check below fails to compile when VifOnHost gains one not listed. */
const VIF_FIELDS = ["mac", "networkId", "bridge", "ipv4", "ipv6", "ipv6LinkLocal", "port"] as const;
const everyVifField: Exclude<keyof VifOnHost, (typeof VIF_FIELDS)[number]> extends never ? true : false = true;

/** Same VIF: every field equal (explicit fields: a generic loop over keys cost twice as much). */
function sameVif(a: VifOnHost, b: VifOnHost): boolean {
  return (
    everyVifField &&
    a.mac === b.mac &&
    a.networkId === b.networkId &&
    a.bridge === b.bridge &&
    a.ipv4 === b.ipv4 &&
    a.ipv6 === b.ipv6 &&
    a.ipv6LinkLocal === b.ipv6LinkLocal &&
    a.port === b.port
  );
}

/** Same content in everything the nft tables read of an instance (not its display name). */
export function sameInstance(a: InstanceOnHost, b: InstanceOnHost): boolean {
  if (a === b) return true;
  if (a.uuid !== b.uuid || a.groups.length !== b.groups.length || a.vifs.length !== b.vifs.length) return false;
  for (let i = 0; i < a.groups.length; i++) if (a.groups[i] !== b.groups[i]) return false;
  for (let i = 0; i < a.vifs.length; i++) if (!sameVif(a.vifs[i], b.vifs[i])) return false;
  return true;
}

export class PiecesCache {
  readonly #byId = new Map<string, Pieces>();
  #build = 0;
  #context = "";
  /** Entries the current build used. */
  #used = 0;

  /**
   * Start a build. `context` is what fragments depend on besides the instance; when it changed,
   * every fragment is recomputed (bindings depend on the instance alone).
   */
  begin(context: string): void {
    this.#build += 1;
    this.#used = 0;
    if (context === this.#context) return;
    this.#context = context;
    for (const p of this.#byId.values()) p.fragment = null;
  }

  /** The entry of `inst` for the current build (emptied when its content changed). */
  of(inst: InstanceOnHost): Pieces {
    let p = this.#byId.get(inst.uuid);
    if (!p || !sameInstance(p.instance, inst)) {
      p = { instance: inst, fragment: null, binding: null, build: 0 };
      this.#byId.set(inst.uuid, p);
    }
    // The newest copy: the next pass's state most likely shares its objects with this one.
    p.instance = inst;
    if (p.build !== this.#build) this.#used += 1;
    p.build = this.#build;
    return p;
  }

  /** End a build: forget instances it did not contain. */
  end(): void {
    if (this.#used === this.#byId.size) return; // nothing left: no need to look
    for (const [id, p] of this.#byId) if (p.build !== this.#build) this.#byId.delete(id);
  }

  get size(): number {
    return this.#byId.size;
  }
}
