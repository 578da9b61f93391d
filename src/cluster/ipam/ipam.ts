/**
 * Controller-less unique IPAM. Each network's fixed range is split into blocks (default /28).
 * A host hands out addresses only from blocks it holds, locally and at once; it gets a new
 * block only with a majority of the voters' persisted promises, and starts claiming the next
 * one before it runs out (fixed.ts). A minority partition keeps allocating from what it holds
 * and fails with a clear error when it needs more. Floating IPs are single-address slots:
 * exactly one host serves each (floating.ts). A dead host's slots come back only through
 * `forget`, refused while that host is reachable.
 */
import type { Layer } from "../node.ts";
import type { SwimEvent } from "../swim/core.ts";
import { Agreement, type ClaimOutcome } from "./agreement.ts";
import { type Duplicate, findDuplicates } from "./duplicates.ts";
import { type IpamMsg, isIpamPayload, parseIpamMsg } from "./messages.ts";
import type { SlotRecord } from "./promises.ts";
import { Inheritance, servePromises } from "./inherit.ts";
import { SlotViews } from "./slot-views.ts";
import { Admission } from "./admission.ts";
import { FixedBlocks } from "./fixed.ts";
import { FloatingSlots, type ServeResult } from "./floating.ts";
import { type AllocResult, DEFAULT_IPAM_CONFIG, type IpamConfig, type IpamOptions } from "./options.ts";

export { DEFAULT_IPAM_CONFIG } from "./options.ts";
export type { AllocResult, IpamConfig, IpamOptions, IpamPeers } from "./options.ts";

/**
 * Told that an allocation on a network may now end otherwise than before (a block claim
 * succeeded or failed, an address came back, an admit round passed); null: on every network
 * (this host became ready).
 */
export type AllocationWatcher = (networkId: string | null) => void;

export class Ipam implements Layer {
  readonly config: IpamConfig;
  readonly agreement: Agreement;
  readonly inheritance: Inheritance;
  readonly stats = { allocations: 0, allocFailures: 0, duplicateAlarms: 0 };
  readonly #o: IpamOptions;
  #readyAt: number;
  #wasReady = false;
  readonly #slots: SlotViews;
  readonly #fixed: FixedBlocks;
  readonly #floating: FloatingSlots;
  readonly #watchers = new Set<AllocationWatcher>();
  #now: number;
  #nextCheckAt: number;
  readonly #admission: Admission;

  constructor(o: IpamOptions) {
    this.#o = o;
    this.#slots = new SlotViews(o.store, o.self);
    this.config = { ...DEFAULT_IPAM_CONFIG, ...o.config };
    const wiped = o.generation > 1 && o.promises.empty();
    this.#readyAt = o.now + (wiped ? this.config.warmupMs : 0);
    this.#nextCheckAt = o.now + this.config.duplicateCheckIntervalMs;
    this.#now = o.now;
    const peers = {
      self: o.self,
      isReachable: (id: string) => o.peers.isReachable(id),
      send: (id: string, d: IpamMsg) => this.#send(id, d),
    };
    // Our own promises are intact unless the directory is new or wiped; then we copy others'
    // before the first vote (inherit.ts). The first host of a cluster has nothing to copy.
    const inherited =
      o.bootstrap === true || o.promises.get(`inherit:${o.self}`) !== undefined || (!wiped && !o.promises.empty());
    this.inheritance = new Inheritance(
      { self: o.self, send: (id, m) => this.#send(id, m) },
      o.promises,
      Math.floor(this.config.claimTimeoutMs / 4),
      inherited,
    );
    const view = {
      voters: () => this.voters(),
      record: (slot: string) => this.record(slot),
      forgotten: (h: string) => this.forgotten(h),
      mayVote: (now: number) => this.#ready(now) && this.inheritance.complete,
    };
    this.agreement = new Agreement(peers, view, o.promises, this.config.claimTimeoutMs);
    const context = {
      o,
      config: this.config,
      slots: this.#slots,
      agreement: this.agreement,
      stats: this.stats,
      record: (slot: string) => this.record(slot),
      forgotten: (h: string) => this.forgotten(h),
      voters: () => this.voters(),
      ready: (now: number) => this.#ready(now),
      now: () => this.#now,
      send: (id: string, m: IpamMsg) => this.#send(id, m),
      won: (r: Extract<ClaimOutcome, { ok: true }>) => this.#won(r),
      changed: (networkId: string) => this.#changed(networkId),
    };
    this.#admission = new Admission({ ...context, inheritance: this.inheritance }, o.now);
    this.#fixed = new FixedBlocks(context);
    this.#floating = new FloatingSlots(context);
  }

  /** Past the warm-up, or state sync caught up with a peer (a wiped host learnt its past). */
  #ready(now: number): boolean {
    if (now >= this.#readyAt) return true;
    if (!this.#o.caughtUp?.()) return false;
    this.#readyAt = now;
    return true;
  }

  /** Follow what may unblock a waiting allocation; returns the unsubscribe function. */
  watch(w: AllocationWatcher): () => void {
    this.#watchers.add(w);
    return () => this.#watchers.delete(w);
  }

  #changed(networkId: string | null): void {
    for (const w of [...this.#watchers]) w(networkId);
  }

  /** Tell the watchers once, when the warm-up ends. */
  #noticeReady(now: number): void {
    if (this.#wasReady || !this.#ready(now)) return;
    this.#wasReady = true;
    this.#changed(null);
  }

  // ---- views over replicated state -----------------------------------------------------

  /** Latest record of one slot: the highest epoch wins (each epoch has a single writer). */
  record(slot: string): SlotRecord | undefined {
    return this.#slots.latest().get(slot);
  }

  forgotten(host: string): boolean {
    const r = this.#o.store.get("host_forgotten", host);
    return r !== undefined && !r.deleted;
  }

  voters(): string[] {
    const out: string[] = [];
    for (const [slot, r] of this.#slots.latest())
      if (slot.startsWith("voter:") && !r.released && !this.forgotten(r.owner)) out.push(r.owner);
    return out.sort();
  }

  /** Blocks of a network that we hold. */
  ownedBlocks(networkId: string): string[] {
    return this.#fixed.owned(networkId);
  }

  /** Floating IPs we serve. */
  serving(): string[] {
    return this.#floating.serving();
  }

  /** Addresses we handed out (from replicated rows we wrote, so they survive restarts). */
  allocations(networkId?: string): { networkId: string; address: string; owner: string | null }[] {
    return this.#fixed.allocations(networkId);
  }

  // ---- fixed addresses and floating IPs ------------------------------------------------

  /** Hand out one address of `networkId` to `owner` (a VIF id), from our own blocks only. */
  allocate(networkId: string, owner: string, now: number): AllocResult {
    if (!this.#ready(now))
      return this.#fixed.fail(
        `not ready: this host's state directory is new; learning the cluster's state (at most ${this.#readyAt - now} ms more)`,
      );
    return this.#fixed.allocate(networkId, owner, now);
  }

  release(networkId: string, address: string): boolean {
    return this.#fixed.release(networkId, address);
  }

  /**
   * Start serving a floating IP here. If another reachable host serves it, it is asked to
   * hand it over and the claim follows its release; the result then says "pending".
   */
  serveFloating(address: string, now: number): ServeResult {
    return this.#floating.serve(address, now);
  }

  /** Stop serving a floating IP (disassociate, or hand-over to another host). */
  releaseFloating(address: string): boolean {
    return this.#floating.release(address);
  }

  /** Write the record of a slot this host won (a block, a floating IP, its voter seat). */
  #won(o: Extract<ClaimOutcome, { ok: true }>): void {
    this.#o.write({
      table: "ipam_slot",
      key: `${o.slot}@${o.epoch}`,
      deleted: false,
      data: { slot: o.slot, owner: this.#o.self, epoch: o.epoch, released: false },
    });
  }

  // ---- forget --------------------------------------------------------------------------

  /** `netlet host forget HOST`: reclaim a dead host's slots; refused while it is reachable. */
  forget(host: string): { ok: true } | { ok: false; error: string } {
    if (host === this.#o.self) return { ok: false, error: "cannot forget this host itself" };
    if (this.#o.peers.isReachable(host))
      return { ok: false, error: `refusing to forget ${host}: it is reachable (alive or suspect)` };
    this.#o.write({ table: "host_forgotten", key: host, deleted: false, data: { host, generation: 0 } });
    return { ok: true };
  }

  checkDuplicates(): Duplicate[] {
    const d = findDuplicates(this.#o.store.scan("ip_alloc"));
    if (d.length) {
      this.stats.duplicateAlarms++;
      this.#o.onDuplicate?.(d);
    }
    return d;
  }

  // ---- layer ---------------------------------------------------------------------------

  handle(from: string, _addr: string, data: unknown, now: number): boolean {
    this.#now = now;
    if (!isIpamPayload(data)) return false;
    const m = parseIpamMsg(data);
    if (!m) return true;
    if (m.i === "q") {
      // Served even before our own copy is complete: a voter that has not voted yet made no
      // promises of its own to miss, and two newcomers copying from each other would
      // otherwise wait for each other for ever.
      this.#send(from, { i: "p", a: m.a, ...servePromises(this.#o.promises, m.a) });
      return true;
    }
    if (m.i === "p") {
      this.inheritance.handle(from, m.a, m.ps, m.nx, now);
      return true;
    }
    if (m.i === "t") {
      this.#floating.handOver(from, m.slot);
      return true;
    }
    this.agreement.handle(from, m, now);
    if (m.i === "l") this.#floating.released(m.slot, m.e, now);
    return true;
  }

  onMember(_e: Extract<SwimEvent, { type: "member" }>, _now: number): void {}

  nextDeadline(): number {
    // Pending hand-overs are looked at on the periodic admit/headroom tick; the end of the
    // warm-up is a deadline so that allocations waiting for it learn at once.
    return Math.min(
      this.agreement.nextDeadline(),
      this.inheritance.nextDeadline(),
      this.#nextCheckAt,
      this.#admission.nextAt,
      this.#floating.nextDeadline(),
      this.#wasReady ? Infinity : this.#readyAt,
    );
  }

  tick(now: number): void {
    this.#now = now;
    this.agreement.tick(now);
    this.#floating.tick(now);
    this.inheritance.tick(now);
    this.#noticeReady(now);
    if (this.#admission.due(now)) {
      this.#admission.admit(now);
      for (const n of this.#fixed.demand) {
        this.#fixed.keepHeadroom(n, now);
        // A forgotten host's blocks or a late record may have freed what a waiting allocation needs.
        this.#changed(n);
      }
    }
    this.#floating.tickTransfers(now);
    if (now >= this.#nextCheckAt) {
      this.#nextCheckAt = now + this.config.duplicateCheckIntervalMs;
      this.checkDuplicates();
    }
  }

  #send(id: string, d: IpamMsg): void {
    const addr = this.#o.peers.addressOf(id);
    if (addr) this.#o.peers.sendUser(addr, d);
  }
}
