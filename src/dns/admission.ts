/**
 * Who may ask a listener: sources inside its own networks are served; sources inside another
 * served network are refused (REFUSED, so a misconfigured guest learns at once); anyone else is
 * dropped without a word. Verdicts are remembered per listener and source (bounded) until the
 * networks change.
 */
import ipaddr from "ipaddr.js";
import { BoundedCache } from "../util/bounded-cache.ts";

export type Verdict = "serve" | "refuse" | "drop";
type Prefix = [ipaddr.IPv4 | ipaddr.IPv6, number];

const MAX_REMEMBERED = 4096;

export function parsePrefixes(cidrs: readonly string[]): Prefix[] {
  return cidrs.flatMap((c) => {
    try {
      return [ipaddr.parseCIDR(c)];
    } catch {
      return [];
    }
  });
}

export class Admission {
  #own = new Map<string, Prefix[]>();
  #verdicts = new Map<string, BoundedCache<string, Verdict>>();

  /** Listener address → the CIDRs it serves. */
  setNetworks(byListener: ReadonlyMap<string, readonly string[]>): void {
    this.#own = new Map([...byListener].map(([k, v]) => [k, parsePrefixes(v)]));
    this.#verdicts = new Map([...byListener.keys()].map((k) => [k, new BoundedCache<string, Verdict>(MAX_REMEMBERED)]));
  }

  verdict(listener: string, from: string): Verdict {
    const memo = this.#verdicts.get(listener);
    let v = memo?.get(from);
    if (v !== undefined) return v;
    v = this.#decide(listener, from);
    memo?.set(from, v);
    return v;
  }

  #decide(listener: string, from: string): Verdict {
    let a: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      a = ipaddr.process(from);
    } catch {
      return "drop";
    }
    const inside = (p: Prefix[] | undefined) => !!p?.some(([net, len]) => net.kind() === a.kind() && a.match(net, len));
    if (inside(this.#own.get(listener))) return "serve";
    for (const [other, p] of this.#own) if (other !== listener && inside(p)) return "refuse";
    return "drop";
  }
}
