/**
 * The cluster's Allocator: addresses from this host's blocks (ipam.ts). An allocation that finds
 * no free address in them waits for what the IPAM reports next on that network (a block claim's
 * outcome, an address given back, an admit round, the end of the warm-up) and tries again, until
 * it succeeds or its time is up; it never polls.
 */
import type { Allocation, AllocationRequest, AllocNetwork, Allocator } from "./allocator.ts";
import type { Logger } from "../log.ts";
import { histogram } from "../metrics.ts";
import { type Clock, realClock } from "../util/clock.ts";
import { conflict, invalid } from "../util/errors.ts";
import type { Ipam } from "../cluster/ipam/ipam.ts";

/** Time from asking for a fixed address to getting one, waits for a new block included (T10). */
const allocSeconds = histogram(
  "netlet_cluster_allocation_seconds",
  "time to allocate a fixed IP from this host's blocks, waits for a new block included",
  [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
);

export interface ClusterAllocatorOptions {
  ipam: Ipam;
  /** This host's node id. */
  self: string;
  /** Run `fn` in the cluster node's turn (ClusterShell.act), at the node's time. */
  act: <T>(fn: (now: number) => T) => T;
  /** This host's own (gateway/DHCP) address on multi_host networks, as the store records it. */
  hostAddress: { find(networkId: string): string | null; claim(networkId: string, address: string): void };
  log: Logger;
  /** How long one address may take, waits for new blocks included. */
  timeoutMs?: number;
  /** Time and the timer that ends a wait (default: real time). */
  clock?: Clock;
}

export class ClusterAllocator implements Allocator {
  readonly #o: ClusterAllocatorOptions;
  readonly #clock: Clock;

  constructor(o: ClusterAllocatorOptions) {
    this.#o = o;
    this.#clock = o.clock ?? realClock;
  }

  async allocate(req: AllocationRequest): Promise<Allocation> {
    if (req.requested.some((a) => a !== undefined))
      throw invalid("--fixed-ip cannot be honoured in a cluster: addresses come from this host's blocks", "fixed_ip");
    const taken: [string, string][] = [];
    const giveBack = () => {
      for (const [net, a] of taken.splice(0)) this.release(net, a);
    };
    try {
      const addresses: (string | undefined)[] = [];
      for (const net of req.networks) {
        if (!net.cidr) {
          addresses.push(undefined);
          continue;
        }
        // The host keeps its gateway address even if this boot fails.
        if (net.hostAddress && !this.#o.hostAddress.find(net.id)) await this.#hostAddress(net);
        const a = await this.#take(net, req.owner);
        taken.push([net.id, a]);
        addresses.push(a);
      }
      return { addresses, abort: giveBack };
    } catch (err) {
      giveBack();
      throw err;
    }
  }

  release(networkId: string, address: string): void {
    this.#o.act(() => this.#o.ipam.release(networkId, address));
  }

  /** Addresses come from the blocks of the host that allocated them: only it gives them back. */
  releases(host: string): boolean {
    return host === this.#o.self;
  }

  async #hostAddress(net: AllocNetwork): Promise<void> {
    const a = await this.#take(net, `host:${this.#o.self}`);
    try {
      this.#o.hostAddress.claim(net.id, a);
    } catch (err) {
      this.release(net.id, a);
      throw err;
    }
  }

  /** One address of `net` for `owner`: at once from our blocks, else after what the IPAM reports next. */
  async #take(net: AllocNetwork, owner: string): Promise<string> {
    const start = this.#clock.now();
    let said = "";
    let atOnce = false;
    for (;;) {
      // Watch before trying: a claim can end within the very call that starts it.
      let next = this.#next(net.id);
      const r = this.#o.act((now) => this.#o.ipam.allocate(net.id, owner, now));
      if (r.ok) {
        next.cancel();
        allocSeconds.observe((this.#clock.now() - start) / 1000);
        return r.address;
      }
      const left = start + (this.#o.timeoutMs ?? 15_000) - this.#clock.now();
      if (left <= 0) {
        next.cancel();
        throw conflict(`no address for this host on network ${net.name}: ${r.error}`, "network");
      }
      // Say once per reason why an allocation waits (a boot that takes seconds is explained).
      const why = r.error.replace(/\d+ ms/, "N ms");
      if (why !== said)
        this.#o.log.info("allocation waiting", {
          network: net.id,
          owner,
          waited_ms: this.#clock.now() - start,
          why: (said = why),
        });
      if (next.woken()) {
        next.cancel();
        // A claim decided within the call (a lone voter grants at once): look again now, once.
        if (!atOnce) {
          atOnce = true;
          continue;
        }
        // Decided at once again (refused: no majority reachable): wait for a later report.
        next = this.#next(net.id);
      }
      atOnce = false;
      await next.within(left);
    }
  }

  /** The IPAM's next report on `networkId` (or on every network), or the end of `ms`. */
  #next(networkId: string): { woken(): boolean; within(ms: number): Promise<void>; cancel(): void } {
    let wake = () => {};
    let woken = false;
    let cancelTimer = () => {};
    const unwatch = this.#o.ipam.watch((n) => {
      if (n !== null && n !== networkId) return;
      woken = true;
      wake();
    });
    const cancel = () => {
      unwatch();
      cancelTimer();
    };
    return {
      woken: () => woken,
      within: (ms) =>
        new Promise<void>((resolve) => {
          wake = () => {
            cancel();
            resolve();
          };
          if (woken) return wake();
          cancelTimer = this.#clock.setTimer(ms, wake);
        }),
      cancel,
    };
  }
}
