/**
 * One bridge's advertiser: the I/O around one RaScheduler. Each `tick(now, link)` it (1) opens
 * or re-opens the socket once the bridge has a usable link-local address, (2) drains and
 * validates queued solicitations, and (3) sends whatever the scheduler says is due. Nothing here
 * throws out of a tick: socket failures are counted and logged, and retried on the next tick.
 */
import type { Logger } from "../log.ts";
import { advertFor, type BridgeConfig, type Lifetimes } from "./config.ts";
import type { LinkLocal } from "./link.ts";
import type { RaMetrics } from "./metrics.ts";
import { buildRa, parseRs } from "./packet.ts";
import { RaScheduler } from "./scheduler.ts";

/** The slice of RawIcmp6Socket an advertiser uses (a fake in unit tests). */
export interface Icmp6Port {
  readonly ifindex: number;
  send(data: Uint8Array, dst: string, src?: string): number;
  receive():
    | { data: Uint8Array; source: string; hopLimit: number | null; truncated: boolean }
    | null
    | { error: number };
  close(): void;
}

export interface AdvertiserDeps {
  random: () => number;
  minIntervalMs: number;
  maxIntervalMs: number;
  maxSolicitedDelayMs: number;
  /** Opens the bridge's socket; `wake` is called when a datagram may be waiting. */
  openPort: (ifname: string, wake: () => void) => Icmp6Port;
  wake: () => void;
  readMac: (ifname: string) => string | null;
  readUpPorts: (bridge: string) => Set<string>;
  metrics: RaMetrics;
  log: Logger;
}

/** Datagrams read per tick and bridge: a flood cannot starve the other bridges or the loop. */
const MAX_RECEIVE_PER_TICK = 32;

export class BridgeAdvertiser {
  #cfg: BridgeConfig;
  #lt: Required<Lifetimes>;
  #scheduler: RaScheduler;
  #port: Icmp6Port | null = null;
  #link: LinkLocal | null = null;
  #packets: { normal: Uint8Array; final: Uint8Array } | null = null;
  #mac: string | null = null;
  #upPorts: Set<string> | null = null;
  #lastError = "";
  readonly #deps: AdvertiserDeps;

  constructor(cfg: BridgeConfig, lt: Required<Lifetimes>, deps: AdvertiserDeps) {
    this.#cfg = cfg;
    this.#lt = lt;
    this.#deps = deps;
    this.#scheduler = this.#newScheduler();
  }

  get bridge(): string {
    return this.#cfg.bridge;
  }

  get state(): "waiting-link-local" | "advertising" | "withdrawing" | "done" {
    const p = this.#scheduler.phase;
    return p === "idle"
      ? "waiting-link-local"
      : p === "running"
        ? "advertising"
        : p === "stopping"
          ? "withdrawing"
          : "done";
  }

  get linkLocal(): string | null {
    return this.#link?.address ?? null;
  }

  /** New contents for the same bridge; hosts hear them soon. */
  update(cfg: BridgeConfig, lt: Required<Lifetimes>, now: number): void {
    const same = JSON.stringify([cfg, lt]) === JSON.stringify([this.#cfg, this.#lt]);
    this.#cfg = cfg;
    this.#lt = lt;
    if (same) return;
    this.#packets = null;
    this.#scheduler.changed(now);
  }

  /** Start the final RAs (router lifetime 0; prefix lifetimes 0 too when `removed`). */
  withdraw(now: number, removed: boolean, finalCount: number): void {
    // Removal only escalates: a bridge dropped from the list after its network was removed
    // keeps zeroing the prefix lifetimes.
    if (removed && this.#cfg.removed !== true) {
      this.#cfg = { ...this.#cfg, removed };
      this.#packets = null;
    }
    this.#scheduler.stop(now, finalCount);
    if (this.#scheduler.phase === "done") this.close();
  }

  /** `link` is this bridge's usable link-local address, or undefined when not re-read this tick. */
  tick(now: number, link: LinkLocal | null | undefined): void {
    if (link !== undefined) this.#followLink(now, link);
    if (!this.#port) return;
    this.#receive(now);
    for (const s of this.#scheduler.poll(now)) {
      const dst = s.kind === "unicast" ? s.to : "ff02::1";
      this.#send(s.final ? "final" : s.kind, dst);
    }
    if (this.#scheduler.phase === "done") this.close();
  }

  /**
   * Re-reads which bridge ports are up; a port that came up since the last look is a new host
   * on the link, so the next multicast RA moves as early as the 3 s limit allows.
   */
  checkPorts(now: number): void {
    if (this.#scheduler.phase !== "running") return;
    const ports = this.#deps.readUpPorts(this.bridge);
    const fresh = this.#upPorts === null ? [] : [...ports].filter((p) => !this.#upPorts!.has(p));
    this.#upPorts = ports;
    if (fresh.length === 0) return;
    this.#deps.log.info("ra.port-up", { bridge: this.bridge, ports: fresh });
    this.#scheduler.changed(now);
  }

  /** When the scheduler next has something to send (null: nothing scheduled or no socket). */
  nextWakeAt(): number | null {
    return this.#port ? this.#scheduler.nextWakeAt() : null;
  }

  close(): void {
    this.#port?.close();
    this.#port = null;
  }

  #newScheduler(): RaScheduler {
    return new RaScheduler({
      random: this.#deps.random,
      minIntervalMs: this.#deps.minIntervalMs,
      maxIntervalMs: this.#deps.maxIntervalMs,
      maxSolicitedDelayMs: this.#deps.maxSolicitedDelayMs,
    });
  }

  #followLink(now: number, link: LinkLocal | null): void {
    const phase = this.#scheduler.phase;
    if (phase === "stopping" || phase === "done") return;
    const same = link && this.#link && link.address === this.#link.address && link.ifindex === this.#link.ifindex;
    if (same && this.#port) {
      // A bridge takes the MAC of its first port, so the SLLAO can change under a running RA.
      if (this.#deps.readMac(this.bridge) !== this.#mac) this.#packets = null;
      return;
    }
    if (this.#port || phase === "running") {
      // The bridge lost its address or was re-created (new ifindex): the socket is bound to a
      // dead interface, so start over as if the bridge were new.
      this.#deps.log.info("ra.link-changed", {
        bridge: this.bridge,
        from: this.#link?.address ?? null,
        to: link?.address ?? null,
      });
      this.close();
      this.#scheduler = this.#newScheduler();
    }
    this.#link = link;
    if (!link) return;
    try {
      const port = this.#deps.openPort(this.bridge, this.#deps.wake);
      if (port.ifindex !== link.ifindex) {
        port.close();
        return; // the bridge changed between the two reads; the next tick sees it settled
      }
      this.#port = port;
      this.#packets = null;
      this.#lastError = "";
      this.#scheduler.start(now);
      this.#upPorts = this.#deps.readUpPorts(this.bridge);
      this.#deps.log.info("ra.advertising", { bridge: this.bridge, source: link.address, prefix: this.#cfg.prefix });
    } catch (e) {
      const msg = (e as Error).message;
      if (msg !== this.#lastError) this.#deps.log.warn("ra.socket-error", { bridge: this.bridge, error: msg });
      this.#lastError = msg;
    }
  }

  #receive(now: number): void {
    const { metrics } = this.#deps;
    for (let i = 0; i < MAX_RECEIVE_PER_TICK; i++) {
      const r = this.#port!.receive();
      if (r === null) return;
      if ("error" in r) {
        metrics.dropped.inc({ bridge: this.bridge, reason: "receive-error" });
        return;
      }
      const parsed = r.truncated ? ({ ok: false, reason: "oversized" } as const) : parseRs(r.data, r);
      if (!parsed.ok) {
        metrics.dropped.inc({ bridge: this.bridge, reason: parsed.reason });
        continue;
      }
      metrics.solicitations.inc({ bridge: this.bridge });
      this.#scheduler.solicit(now, parsed.rs.source);
    }
  }

  #send(kind: "multicast" | "unicast" | "final", dst: string): void {
    const packets = this.#ensurePackets();
    const err = this.#port!.send(kind === "final" ? packets.final : packets.normal, dst, this.#link!.address);
    if (err === 0) this.#deps.metrics.sent.inc({ bridge: this.bridge, kind });
    else this.#deps.metrics.sendErrors.inc({ bridge: this.bridge, errno: String(err) });
  }

  #ensurePackets(): { normal: Uint8Array; final: Uint8Array } {
    if (!this.#packets) {
      const mac = (this.#mac = this.#deps.readMac(this.bridge));
      this.#packets = {
        normal: buildRa(advertFor(this.#cfg, this.#lt, mac, false)),
        final: buildRa(advertFor(this.#cfg, this.#lt, mac, true)),
      };
    }
    return this.#packets;
  }
}
