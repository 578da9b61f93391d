/**
 * Fixed addresses from this host's blocks: hand one out locally and at once, and claim the next
 * block (a majority of voters) while `headroom` addresses are still free, so a burst of boots
 * rarely waits for the voters' round trip.
 */
import type { Agreement, ClaimOutcome } from "./agreement.ts";
import { blockAddresses, splitBlocks } from "./blocks.ts";
import { reservedOf, type ReservationFields } from "../../net/network-plan.ts";
import { ip4ToNum } from "../../net/ip.ts";
import type { SlotRecord } from "./promises.ts";
import type { SlotViews } from "./slot-views.ts";
import { type AllocResult, blockSlot, cached, type IpamConfig, type IpamOptions } from "./options.ts";

/** How long a block another host was said to hold stays out of our picks. */
const HELD_ELSEWHERE_MS = 60_000;

/** What the fixed-address part needs from the IPAM around it. */
export interface FixedContext {
  readonly o: IpamOptions;
  readonly config: IpamConfig;
  readonly slots: SlotViews;
  readonly agreement: Agreement;
  readonly stats: { allocations: number; allocFailures: number };
  record(slot: string): SlotRecord | undefined;
  ready(now: number): boolean;
  /** The time of the current handle/tick. */
  now(): number;
  /** Persist a slot this host won. */
  won(o: Extract<ClaimOutcome, { ok: true }>): void;
  /** An allocation on `networkId` may now end otherwise than before: wake whoever waits for it. */
  changed(networkId: string): void;
}

interface Net {
  cidr: string;
  reserved: { has(a: string): boolean };
}

export class FixedBlocks {
  readonly #c: FixedContext;
  /** Per network, our blocks found without a free address (see #freeAddresses). */
  readonly #full = new Map<string, Set<string>>();
  readonly #blockAddrs = new Map<string, string[]>();
  readonly #rangeBlocks = new Map<string, string[]>();
  /** Networks this host allocated in: their headroom is kept on every admit round. */
  readonly demand = new Set<string>();
  readonly #lastError = new Map<string, string>();
  /** Blocks a voter said another host holds, kept out of our picks until then. */
  readonly #heldElsewhere = new Map<string, number>();

  constructor(c: FixedContext) {
    this.#c = c;
  }

  /** Blocks of a network that we hold. */
  owned(networkId: string): string[] {
    return this.#c.slots.held(`block:${networkId}:`);
  }

  /** Addresses we handed out (from replicated rows we wrote, so they survive restarts). */
  allocations(networkId?: string): { networkId: string; address: string; owner: string | null }[] {
    const { self, store } = this.#c.o;
    const out: { networkId: string; address: string; owner: string | null }[] = [];
    for (const r of store.scanPrefix("ip_alloc", `${self}/`)) {
      const d = r.data;
      if (r.deleted || !d || d.host !== self || (networkId && d.networkId !== networkId)) continue;
      out.push({
        networkId: String(d.networkId),
        address: String(d.address),
        owner: (d.owner as string | null) ?? null,
      });
    }
    return out;
  }

  /** Hand out one address of `networkId` to `owner`, from our own blocks only (the caller checked readiness). */
  allocate(networkId: string, owner: string, now: number): AllocResult {
    const net = this.#network(networkId);
    if (!net) return this.fail(`unknown network ${networkId}`);
    this.demand.add(networkId);
    const a = this.#freeAddresses(networkId, net, 1)[0];
    if (a) {
      const self = this.#c.o.self;
      this.#c.o.write({
        table: "ip_alloc",
        key: `${self}/${networkId}/${a}`,
        deleted: false,
        data: { networkId, address: a, host: self, owner },
      });
      this.#c.stats.allocations++;
    }
    this.keepHeadroom(networkId, now);
    if (a) return { ok: true, address: a };
    const why = this.#lastError.get(networkId);
    return this.fail(
      `network ${networkId}: no free address in this host's blocks; a new block needs a majority of voters${why ? ` (${why})` : " (claim in progress)"}`,
    );
  }

  release(networkId: string, address: string): boolean {
    const key = `${this.#c.o.self}/${networkId}/${address}`;
    const r = this.#c.o.store.get("ip_alloc", key);
    if (!r || r.deleted) return false;
    this.#c.o.write({ table: "ip_alloc", key, deleted: true, data: null });
    this.#full.delete(networkId);
    this.#c.changed(networkId);
    return true;
  }

  fail(error: string): AllocResult {
    this.#c.stats.allocFailures++;
    return { ok: false, error };
  }

  #network(id: string): Net | undefined {
    const r = this.#c.o.store.get("network", id);
    const d = r && !r.deleted ? r.data : null;
    const cidr = d ? ((d.fixedCidr ?? d.cidr) as string | null) : null;
    if (!d || !cidr) return undefined;
    // nova's reservation rule (bottom/top, gateway, DHCP server, VPN, allowed_start/end), the
    // same one network-create applies.
    const rule = reservedOf({ ...(d as unknown as ReservationFields), fixedCidr: cidr });
    return { cidr, reserved: { has: (a: string) => rule(ip4ToNum(a)) } };
  }

  /**
   * Up to `limit` free addresses of our blocks, in order. An address of our blocks can only have
   * been handed out by us or by an earlier owner of its block (a forgotten host), so each
   * candidate is looked up under those hosts' keys: the cost follows our free addresses, not
   * the cluster's allocations. Blocks found full are remembered until we release an address
   * (others never free ours; rows arriving late only take more).
   */
  #freeAddresses(networkId: string, net: Net, limit: number): string[] {
    const out: string[] = [];
    const full = this.#full.get(networkId) ?? new Set<string>();
    this.#full.set(networkId, full);
    for (const block of this.owned(networkId)) {
      if (full.has(block)) continue;
      const hosts = [...new Set([this.#c.o.self, ...this.#c.slots.owners(blockSlot(networkId, block))])];
      const found = out.length;
      for (const a of this.#addresses(block)) {
        if (net.reserved.has(a) || hosts.some((h) => this.#inUse(`${h}/${networkId}/${a}`))) continue;
        out.push(a);
        if (out.length >= limit) return out;
      }
      if (out.length === found) full.add(block);
    }
    return out;
  }

  #inUse(key: string): boolean {
    const r = this.#c.o.store.get("ip_alloc", key);
    return r !== undefined && !r.deleted;
  }

  /** A range's blocks, split once per range (a /16 has 4,096 of /28). */
  #blocksOf(cidr: string): string[] {
    return cached(this.#rangeBlocks, 64, cidr, () => splitBlocks(cidr, this.#c.config.blockPrefix));
  }

  /** A block's addresses, parsed once (bounded: the blocks of networks we allocate in). */
  #addresses(block: string): string[] {
    return cached(this.#blockAddrs, 4096, block, () => blockAddresses(block));
  }

  /** Claim the next block while we still have `headroom` addresses left. */
  keepHeadroom(networkId: string, now: number): void {
    const { headroom } = this.#c.config;
    const net = this.#network(networkId);
    if (!net || !this.#c.ready(now) || this.#freeAddresses(networkId, net, headroom).length >= headroom) return;
    if (this.#c.agreement.anyPending(`block:${networkId}:`)) return;
    const gone = new Set<string>();
    for (const r of this.#c.o.store.scan("host_forgotten")) if (!r.deleted) gone.add(r.key);
    // The first free blocks in address order: a random pick among them keeps concurrent
    // claimants apart, and the walk stops there (a /16 has 4,096 blocks).
    const free: string[] = [];
    for (const b of this.#blocksOf(net.cidr)) {
      const slot = blockSlot(networkId, b);
      if ((this.#heldElsewhere.get(slot) ?? 0) > now) continue;
      const rec = this.#c.record(slot);
      if (!rec || rec.released || gone.has(rec.owner)) free.push(b);
      if (free.length === 8) break;
    }
    if (free.length === 0) {
      this.#lastError.set(networkId, "every block of the range is held");
      return;
    }
    const block = free[Math.floor(this.#c.o.random() * free.length)];
    this.#c.agreement.claim(blockSlot(networkId, block), now, (o) => this.#claimed(o, networkId));
  }

  #claimed(o: ClaimOutcome, networkId: string): void {
    if (o.ok) {
      this.#lastError.delete(networkId);
      this.#c.won(o);
    } else {
      this.#lastError.set(networkId, o.error);
      // A voter told us who holds it (its record has not reached us): pick other blocks.
      if (o.state && o.state.owner !== this.#c.o.self && !o.state.released)
        this.#heldElsewhere.set(o.slot, this.#c.now() + HELD_ELSEWHERE_MS);
    }
    this.#c.changed(networkId);
  }
}
