/**
 * One cluster member as a sans-IO unit: membership (SWIM), state sync and IPAM behind a single
 * receive/tick/drain interface. The simulator drives it directly; the UDP shell drives it with
 * encryption in between. Payloads for the layers above membership are routed here by shape.
 */
import type { HlcClock } from "../replication/hlc.ts";
import type { SimNode } from "./sim/simulator.ts";
import type { SwimConfig } from "./swim/config.ts";
import { type Packet, SwimCore, type SwimEvent, type SwimOptions } from "./swim/core.ts";
import { type SyncConfig, SyncEngine } from "./sync/engine.ts";
import { isSyncPayload } from "./sync/messages.ts";
import type { ReplicaRow, ReplicaStore } from "../replication/replica-store.ts";

/** A layer above membership (IPAM) that gets its own payloads and timers. */
export interface Layer {
  handle(from: string, addr: string, data: unknown, now: number): boolean;
  tick(now: number): void;
  nextDeadline(): number;
  onMember?(e: Extract<SwimEvent, { type: "member" }>, now: number): void;
}

export interface ClusterNodeOptions
  extends Pick<SwimOptions, "id" | "addr" | "generation" | "incarnation" | "now" | "random"> {
  clock: HlcClock;
  store: ReplicaStore;
  swim?: Partial<SwimConfig>;
  sync?: Partial<SyncConfig>;
  /** Called with membership events and new incarnations (persist those). */
  onEvent?: (e: SwimEvent, now: number) => void;
}

export class ClusterNode implements SimNode {
  readonly swim: SwimCore;
  readonly sync: SyncEngine;
  readonly layers: Layer[] = [];
  readonly store: ReplicaStore;
  readonly clock: HlcClock;
  #out: Packet[] = [];
  #now: number;
  readonly #onEvent?: (e: SwimEvent, now: number) => void;

  constructor(o: ClusterNodeOptions) {
    this.#now = o.now;
    this.swim = new SwimCore({
      id: o.id,
      addr: o.addr,
      generation: o.generation,
      incarnation: o.incarnation,
      now: o.now,
      random: o.random,
      config: o.swim,
    });
    this.sync = new SyncEngine({
      self: o.id,
      store: o.store,
      clock: o.clock,
      transport: this.swim,
      now: o.now,
      config: o.sync,
    });
    this.#onEvent = o.onEvent;
    this.store = o.store;
    this.clock = o.clock;
  }

  /** A local write: stamp it with our clock, store it, gossip it. */
  write(row: Omit<ReplicaRow, "origin" | "hlc">): ReplicaRow {
    const full: ReplicaRow = { ...row, origin: this.id, hlc: this.clock.tick() };
    this.store.put(full);
    this.sync.publish(full);
    return full;
  }

  get addr(): string {
    return this.swim.addr;
  }

  get id(): string {
    return this.swim.id;
  }

  receive(now: number, from: string, data: string, authSender?: string): void {
    this.#now = now;
    this.swim.receive(now, from, data, authSender);
    this.#pump();
  }

  tick(now: number): void {
    this.#now = now;
    this.swim.tick(now);
    this.sync.tick(now);
    for (const l of this.layers) l.tick(now);
    this.#pump();
  }

  /** Run an action at `now` (an API write, join, leave) and collect what it produced. */
  act(now: number, f: (n: this) => void): void {
    this.#now = now;
    f(this);
    this.#pump();
  }

  nextDeadline(): number {
    let d = Math.min(this.swim.nextDeadline(), this.sync.nextDeadline());
    for (const l of this.layers) d = Math.min(d, l.nextDeadline());
    return d;
  }

  drainPackets(): Packet[] {
    this.#pump();
    const out = this.#out;
    this.#out = [];
    return out;
  }

  /** Move packets out of the core and route events until nothing new is produced. */
  #pump(): void {
    for (let rounds = 0; rounds < 64; rounds++) {
      const { packets, events } = this.swim.drain();
      for (const p of packets) this.#out.push(p);
      if (events.length === 0) return;
      for (const e of events) this.#route(e);
    }
  }

  #route(e: SwimEvent): void {
    if (e.type === "user") {
      if (isSyncPayload(e.data)) this.sync.handle(e.from, e.addr, e.data, this.#now);
      else if (!this.layers.some((l) => l.handle(e.from, e.addr, e.data, this.#now))) this.swim.stats.malformed++;
      return;
    }
    if (e.type === "member" && e.change === "alive" && e.was === "dead") this.sync.memberBack(e.member.id, this.#now);
    if (e.type === "member") for (const l of this.layers) l.onMember?.(e, this.#now);
    this.#onEvent?.(e, this.#now);
  }
}
