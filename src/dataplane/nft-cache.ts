/**
 * What a Dataplane remembers between two builds of its tables: each instance's share of them
 * (filter fragment, bridge binding), keyed by the instance's id and checked against a text of its
 * content, so that a pass in which one instance changed recomputes that one only. The element
 * texts kept here are then the very strings of the last build, which makes the diff between two
 * builds compare pointers rather than characters. Entries of instances that left are dropped at
 * the end of each build: the cache is never larger than the host's state.
 */
import type { InstanceOnHost } from "./desired.ts";
import type { Binding } from "./nft-bridge.ts";
import type { Fragment } from "./nft-filter.ts";

export interface Pieces {
  /** The instance's content as text: an entry is reused only while it is the same. */
  key: string;
  fragment: Fragment | null;
  binding: Binding | null;
  build: number;
}

/** Everything of an instance that the nft tables read (not its display name). */
export function contentKey(inst: InstanceOnHost): string {
  let k = `${inst.uuid}|${inst.groups.join(",")}`;
  for (const v of inst.vifs)
    k += `|${v.mac} ${v.networkId} ${v.bridge} ${v.ipv4} ${v.ipv6} ${v.ipv6LinkLocal} ${v.port}`;
  return k;
}

export class PiecesCache {
  readonly #byId = new Map<string, Pieces>();
  #build = 0;
  #context = "";

  /**
   * Start a build. `context` is what fragments depend on besides the instance; when it changed,
   * every fragment is recomputed (bindings depend on the instance alone).
   */
  begin(context: string): void {
    this.#build += 1;
    if (context === this.#context) return;
    this.#context = context;
    for (const p of this.#byId.values()) p.fragment = null;
  }

  /** The entry of `inst` for the current build (emptied when its content changed). */
  of(inst: InstanceOnHost): Pieces {
    const key = contentKey(inst);
    let p = this.#byId.get(inst.uuid);
    if (!p || p.key !== key) {
      p = { key, fragment: null, binding: null, build: this.#build };
      this.#byId.set(inst.uuid, p);
    }
    p.build = this.#build;
    return p;
  }

  /** End a build: forget instances it did not contain. */
  end(): void {
    for (const [id, p] of this.#byId) if (p.build !== this.#build) this.#byId.delete(id);
  }

  get size(): number {
    return this.#byId.size;
  }
}
