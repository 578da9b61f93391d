/**
 * IPv6 Router Advertisements on the bridges this node serves, in place of one radvd per bridge.
 * The composition root calls `setBridges(list)` whenever the served networks change and
 * `stop()` on shutdown. A bridge absent from the list is never advertised on: it is withdrawn
 * (final RAs with router lifetime 0) if it was, and its socket closed.
 *
 * Receiving: a raw ICMPv6 fd cannot join Bun's event loop (`Bun.udpSocket({fd})` gives EINVAL).
 * Options measured on the 2-vCPU dev VM (bench/ra/run.ts and throwaway prototypes):
 * - bounded-interval polling: an empty non-blocking recvmsg through bun:ffi costs 0.93 µs; an
 *   idle Bun process polling one socket every 100 ms used 0.27 % of a core more than one not
 *   polling; but an answer waits for the next tick (≤ 100 ms; rdisc6 saw ~95 ms mean);
 * - a Worker blocked in poll(2): 0.46 ms median wakeup, but about 8 MB more RSS, a second JS
 *   heap, and an extra entry point that `bun build --compile` must be told about;
 * - a doorbell (src/sys/raw6.ts `openDoorbell`): a second raw socket with the same filter,
 *   watched by Bun's own epoll through `Bun.file(fd).stream()`: 0.33 ms median wakeup, no
 *   thread, no extra heap.
 * So: the doorbell wakes the service as soon as a solicitation arrives (in bench/ra, rdisc6's
 * RS→RA time with maxSolicitedDelayMs 0 was 7 ms median against radvd's 6 ms), and a 100 ms poll
 * (`pollIntervalMs`) stays as the bounded safety net and drives the schedulers; a one-shot
 * timer fires exactly when a scheduler's next send is due. Each pass reads at most 32
 * datagrams per bridge and wake-ups are coalesced to at most one pass per 5 ms, so a flood
 * of solicitations costs bounded work. A second doorbell on rtnetlink link events notices a
 * bridge port coming up (a new guest) and brings the next multicast RA forward, within the 3 s
 * multicast limit, so a guest usually has its prefix before it even solicits.
 */
import { createLogger, type Logger } from "../log.ts";
import { registry, type Registry } from "../metrics.ts";
import { type Cancel, type Clock, monotonicClock } from "../util/clock.ts";
import { BridgeAdvertiser, type AdvertiserDeps, type Icmp6Port } from "./advertiser.ts";
import { checkBridgeConfig, type BridgeConfig } from "./config.ts";
import { readIfInet6, readMac, readUpPorts, usableLinkLocal } from "./link.ts";
import { raMetrics } from "./metrics.ts";
import { openRsPort } from "./port.ts";
import { openLinkDoorbell, type Doorbell } from "../sys/raw6.ts";
import { MAX_FINAL_RTR_ADVERTISEMENTS, validateIntervals } from "./scheduler.ts";

export type { BridgeConfig } from "./config.ts";

export interface RaServiceOptions {
  /** MinRtrAdvInterval, ms. @default 3000 (nova's radvd config) */
  minIntervalMs?: number;
  /** MaxRtrAdvInterval, ms. @default 10000 (nova's radvd config) */
  maxIntervalMs?: number;
  /** Random delay bound before answering a solicitation, ms (RFC 4861: 500; radvd: 0). @default 500 */
  maxSolicitedDelayMs?: number;
  /** How often sockets are read and timers checked, ms. @default 100 */
  pollIntervalMs?: number;
  /** How often an advertising bridge's link-local address and MAC are re-checked, ms. @default 1000 */
  linkCheckMs?: number;
  /** The same while some bridge still waits for its link-local address (DAD), ms. @default 250 */
  waitingCheckMs?: number;
  /** Final RAs when the service stops (1 keeps shutdown fast). @default 1 */
  finalRasOnStop?: number;
  /** Time and timers. @default monotonicClock */
  clock?: Clock;
  random?: () => number;
  registry?: Registry;
  log?: Logger;
  /** Socket factory (tests substitute a fake). @default openRsPort (socket + doorbell) */
  openPort?: (ifname: string, wake: () => void) => Icmp6Port;
  /** /proc/net/if_inet6 reader (tests substitute text). */
  readIfInet6?: () => string;
  /** Up ports of a bridge (tests substitute a fake). @default sysfs */
  readUpPorts?: (bridge: string) => Set<string>;
  /** Link-change notifications (tests pass null to rely on the periodic check). @default rtnetlink */
  openLinkWatch?: ((onEvent: () => void) => Doorbell) | null;
}

export interface BridgeStatus {
  bridge: string;
  state: "waiting-link-local" | "advertising" | "withdrawing" | "done";
  linkLocal: string | null;
}

export class RaService {
  readonly #deps: AdvertiserDeps;
  readonly #clock: Clock;
  readonly #pollMs: number;
  readonly #linkCheckMs: number;
  readonly #waitingCheckMs: number;
  readonly #finalOnStop: number;
  readonly #readIfInet6: () => string;
  readonly #advertisers = new Map<string, BridgeAdvertiser>();
  #timer: Cancel | null = null;
  #soon: Cancel | null = null;
  #soonAt = Infinity;
  #lastTickAt = -Infinity;
  #portsDirty = false;
  #linkWatch: Doorbell | null = null;
  readonly #openLinkWatch: ((onEvent: () => void) => Doorbell) | null;
  #lastLinkCheck = -Infinity;
  #stopped = false;

  constructor(opts: RaServiceOptions = {}) {
    const minIntervalMs = opts.minIntervalMs ?? 3_000;
    const maxIntervalMs = opts.maxIntervalMs ?? 10_000;
    validateIntervals(minIntervalMs, maxIntervalMs);
    this.#clock = opts.clock ?? monotonicClock;
    this.#pollMs = opts.pollIntervalMs ?? 100;
    this.#linkCheckMs = opts.linkCheckMs ?? 1_000;
    this.#waitingCheckMs = opts.waitingCheckMs ?? 250;
    this.#finalOnStop = opts.finalRasOnStop ?? 1;
    this.#readIfInet6 = opts.readIfInet6 ?? readIfInet6;
    this.#openLinkWatch = opts.openLinkWatch === undefined ? openLinkDoorbell : opts.openLinkWatch;
    this.#deps = {
      random: opts.random ?? Math.random,
      minIntervalMs,
      maxIntervalMs,
      maxSolicitedDelayMs: opts.maxSolicitedDelayMs ?? 500,
      openPort: opts.openPort ?? openRsPort,
      wake: () => this.#wake(),
      readMac,
      readUpPorts: opts.readUpPorts ?? readUpPorts,
      metrics: raMetrics(opts.registry ?? registry),
      log: opts.log ?? createLogger({ level: "warn", base: { component: "ra" } }),
    };
  }

  /**
   * Reconciles the advertised bridges with `list` without restarting anything: new bridges start
   * advertising once their link-local address has passed DAD, changed ones advertise the new
   * contents soon, entries with `removed: true` and bridges missing from the list are withdrawn.
   * Throws a RangeError (and changes nothing) when any entry is invalid.
   */
  setBridges(list: BridgeConfig[]): void {
    if (this.#stopped) throw new Error("Cannot set bridges as the RA service is stopped");
    const seen = new Set<string>();
    const checked = list.map((cfg) => {
      if (seen.has(cfg.bridge))
        throw new RangeError(`Cannot advertise on '${cfg.bridge}' twice: it appears more than once`);
      seen.add(cfg.bridge);
      return { cfg, lt: checkBridgeConfig(cfg, this.#deps.maxIntervalMs) };
    });
    const now = this.#clock.now();
    for (const { cfg, lt } of checked) {
      const existing = this.#advertisers.get(cfg.bridge);
      if (cfg.removed) existing?.withdraw(now, true, MAX_FINAL_RTR_ADVERTISEMENTS);
      else if (existing && existing.state !== "withdrawing" && existing.state !== "done") existing.update(cfg, lt, now);
      else {
        existing?.close();
        this.#advertisers.set(cfg.bridge, new BridgeAdvertiser(cfg, lt, this.#deps));
      }
    }
    for (const [name, adv] of this.#advertisers)
      if (!seen.has(name)) adv.withdraw(now, false, MAX_FINAL_RTR_ADVERTISEMENTS);
    this.#lastLinkCheck = -Infinity; // look at new bridges on the next tick
    this.#ensureTimer();
    this.#ensureLinkWatch();
    this.tick();
  }

  /**
   * Closes everything. With `withdraw` (the default) it first sends the final RAs (router
   * lifetime 0) on every advertising bridge: only when the host really stops serving. A restart
   * passes `withdraw: false`, so guests keep their default route and addresses meanwhile.
   */
  async stop(opts: { withdraw?: boolean } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (opts.withdraw === false) {
      this.#close();
      return;
    }
    const now = this.#clock.now();
    // Bridges already withdrawing have sent their first final RA; shutdown does not wait for
    // the rest of their series.
    const waitFor = [...this.#advertisers.values()].filter((a) => a.state !== "withdrawing");
    for (const adv of this.#advertisers.values()) adv.withdraw(now, false, this.#finalOnStop);
    // Later finals (finalRasOnStop > 1) are 3 s apart; wait for them, bounded.
    const deadline = now + 3_000 * this.#finalOnStop + 1_000;
    this.tick();
    while (waitFor.some((a) => a.state === "withdrawing") && this.#clock.now() < deadline) {
      await this.#clock.sleep(this.#pollMs);
      this.tick();
    }
    this.#close();
  }

  #close(): void {
    for (const adv of this.#advertisers.values()) adv.close();
    this.#advertisers.clear();
    this.#linkWatch?.close();
    this.#linkWatch = null;
    this.#timer?.();
    this.#soon?.();
    this.#timer = null;
    this.#soon = null;
  }

  status(): BridgeStatus[] {
    return [...this.#advertisers.values()].map((a) => ({ bridge: a.bridge, state: a.state, linkLocal: a.linkLocal }));
  }

  /** One pass over every bridge; the timers call it, tests may call it directly. */
  tick(): void {
    const now = this.#clock.now();
    this.#lastTickAt = now;
    const waiting = [...this.#advertisers.values()].some((a) => a.state === "waiting-link-local");
    let text: string | undefined;
    if (now - this.#lastLinkCheck >= (waiting ? this.#waitingCheckMs : this.#linkCheckMs)) {
      text = this.#readIfInet6();
      this.#lastLinkCheck = now;
      this.#portsDirty = true; // also the safety net for missed link notifications
    }
    const checkPorts = this.#portsDirty;
    this.#portsDirty = false;
    for (const [name, adv] of this.#advertisers) {
      try {
        if (checkPorts) adv.checkPorts(now);
        adv.tick(now, text === undefined ? undefined : usableLinkLocal(text, name));
      } catch (e) {
        this.#deps.log.warn("ra.tick-error", { bridge: name, error: (e as Error).message });
      }
      if (adv.state === "done") this.#advertisers.delete(name);
    }
    this.#armSoon(now);
  }

  /** A solicitation may be waiting: one pass soon, at most one per 5 ms however many arrive. */
  #wake(): void {
    if (this.#stopped) return;
    const now = this.#clock.now();
    this.#runAt(Math.max(now, this.#lastTickAt + 5), now);
  }

  /** Fire exactly when the earliest scheduled send is due, if that is before the next poll. */
  #armSoon(now: number): void {
    let due = Infinity;
    for (const adv of this.#advertisers.values()) due = Math.min(due, adv.nextWakeAt() ?? Infinity);
    if (due < now + this.#pollMs) this.#runAt(due, now);
  }

  #runAt(at: number, now: number): void {
    if (this.#soon && this.#soonAt <= at) return;
    this.#soon?.();
    this.#soonAt = at;
    this.#soon = this.#clock.setTimer(Math.max(0, at - now), () => {
      this.#soon = null;
      this.#soonAt = Infinity;
      if (!this.#stopped) this.tick();
    });
  }

  #ensureLinkWatch(): void {
    if (this.#linkWatch || !this.#openLinkWatch) return;
    try {
      this.#linkWatch = this.#openLinkWatch(() => {
        this.#portsDirty = true;
        this.#wake();
      });
    } catch (e) {
      // Without notifications, new ports are still noticed by the periodic link check.
      this.#deps.log.warn("ra.link-watch-error", { error: (e as Error).message });
    }
  }

  #ensureTimer(): void {
    if (this.#timer) return;
    this.#timer = this.#clock.every(this.#pollMs, () => this.tick());
  }
}
