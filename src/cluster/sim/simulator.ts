/**
 * Deterministic in-memory network with virtual time. It drives real sans-IO nodes: packets are
 * delivered after a seeded random delay (so they reorder), dropped with a seeded loss rate,
 * blocked between partition groups, and held while a node is paused (as a kernel socket buffer
 * would), then handed over when it resumes. Nothing here reads the wall clock.
 */
import { EventHeap } from "./heap.ts";
import { mulberry32 } from "./prng.ts";

export interface SimPacket {
  to: string;
  data: string;
}

/** What the simulator needs from a node: the same inputs a socket shell would give it. */
export interface SimNode {
  readonly addr: string;
  receive(now: number, from: string, data: string): void;
  tick(now: number): void;
  nextDeadline(): number;
  drainPackets(): SimPacket[];
}

export interface SimOptions {
  seed: number;
  /** Probability that any one packet is lost. */
  loss?: number;
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Bytes added to every packet for the byte counters (IP+UDP 28, AEAD header and tag 38). */
  overheadBytes?: number;
  /** Packets held for a paused node before further ones are dropped. */
  pausedBufferPackets?: number;
}

const WAKE = 0;
const DELIVER = 1;
const RESUME = 2;

/**
 * One event shape for all kinds (wake/resume use `to` as the node's address), built by a
 * class: millions are made per 1,000-node run, and one hidden class keeps the heap fast.
 */
class Ev {
  constructor(
    readonly at: number,
    readonly seq: number,
    readonly kind: number,
    readonly to: string,
    readonly from: string,
    readonly data: string,
  ) {}
}

interface Entry {
  node: SimNode;
  alive: boolean;
  pausedUntil: number;
  held: { from: string; data: string }[];
  armedAt: number;
  group: number;
  bytesOut: number;
  packetsOut: number;
}

export class Simulator {
  now = 0;
  loss: number;
  readonly random: () => number;
  readonly #heap = new EventHeap<Ev>();
  readonly #nodes = new Map<string, Entry>();
  #seq = 0;
  readonly #minDelay: number;
  readonly #maxDelay: number;
  readonly #overhead: number;
  readonly #heldMax: number;
  /** Optional tap on every packet that leaves a node (after loss is decided). */
  onSend?: (from: string, to: string, data: string, lost: boolean) => void;

  constructor(o: SimOptions) {
    this.random = mulberry32(o.seed);
    this.loss = o.loss ?? 0;
    this.#minDelay = o.minDelayMs ?? 1;
    this.#maxDelay = o.maxDelayMs ?? 10;
    this.#overhead = o.overheadBytes ?? 66;
    this.#heldMax = o.pausedBufferPackets ?? 2000;
  }

  add(node: SimNode): void {
    const e: Entry = {
      node,
      alive: true,
      pausedUntil: -1,
      held: [],
      armedAt: Infinity,
      group: 0,
      bytesOut: 0,
      packetsOut: 0,
    };
    this.#nodes.set(node.addr, e);
    this.#flush(e);
  }

  node(addr: string): SimNode | undefined {
    return this.#nodes.get(addr)?.node;
  }

  isAlive(addr: string): boolean {
    return this.#nodes.get(addr)?.alive ?? false;
  }

  /** Stop a node for good (fail-stop); packets to it vanish. */
  kill(addr: string): void {
    const e = this.#nodes.get(addr);
    if (e) e.alive = false;
  }

  /** Replace a killed node's process with a fresh one on the same address. */
  replace(node: SimNode): void {
    this.#nodes.delete(node.addr);
    this.add(node);
  }

  /** Freeze a node (SIGSTOP, long GC, blocked event loop) for `ms`. */
  pause(addr: string, ms: number): void {
    const e = this.#nodes.get(addr);
    if (!e) return;
    e.pausedUntil = this.now + ms;
    this.#push(RESUME, e.pausedUntil, addr, "", "");
  }

  /** Nodes in different groups cannot exchange packets; unlisted nodes join group 0. */
  partition(groups: string[][]): void {
    for (const e of this.#nodes.values()) e.group = 0;
    groups.forEach((g, i) => {
      for (const a of g) {
        const e = this.#nodes.get(a);
        if (e) e.group = i;
      }
    });
  }

  heal(): void {
    for (const e of this.#nodes.values()) e.group = 0;
  }

  /** Bytes sent by one node so far, headers included. */
  bytesSent(addr: string): number {
    return this.#nodes.get(addr)?.bytesOut ?? 0;
  }

  /** Process every event up to `untilMs` of virtual time. */
  run(untilMs: number): void {
    for (;;) {
      const ev = this.#heap.peek();
      if (!ev || ev.at > untilMs) break;
      this.#heap.pop();
      this.now = ev.at;
      this.#dispatch(ev);
    }
    this.now = untilMs;
  }

  runFor(ms: number): void {
    this.run(this.now + ms);
  }

  /** Run in steps until `done()` holds; returns the time it first held, or null. */
  runUntil(done: () => boolean, limitMs: number, stepMs = 50): number | null {
    const end = this.now + limitMs;
    while (this.now < end) {
      if (done()) return this.now;
      this.run(Math.min(end, this.now + stepMs));
    }
    return done() ? this.now : null;
  }

  /** Let a node act outside of its timers (an API call), then send what it produced. */
  poke(addr: string, act: (node: SimNode, now: number) => void): void {
    const e = this.#nodes.get(addr);
    if (!e || !e.alive) return;
    act(e.node, this.now);
    this.#flush(e);
  }

  #dispatch(ev: Ev): void {
    if (ev.kind === DELIVER) return this.#deliver(ev.from, ev.to, ev.data);
    const e = this.#nodes.get(ev.to);
    if (!e || !e.alive) return;
    if (ev.kind === RESUME) {
      if (this.now < e.pausedUntil) return;
      const held = e.held;
      e.held = [];
      for (const h of held) e.node.receive(this.now, h.from, h.data);
      e.node.tick(this.now);
      this.#flush(e);
      return;
    }
    if (ev.at !== e.armedAt || this.now < e.pausedUntil) return;
    e.armedAt = Infinity;
    e.node.tick(this.now);
    this.#flush(e);
  }

  #deliver(from: string, to: string, data: string): void {
    const e = this.#nodes.get(to);
    if (!e || !e.alive) return;
    if (this.now < e.pausedUntil) {
      if (e.held.length < this.#heldMax) e.held.push({ from, data });
      return;
    }
    e.node.receive(this.now, from, data);
    this.#flush(e);
  }

  #flush(e: Entry): void {
    for (const p of e.node.drainPackets()) {
      e.bytesOut += p.data.length + this.#overhead;
      e.packetsOut++;
      const dst = this.#nodes.get(p.to);
      const lost = this.random() < this.loss || !dst || dst.group !== e.group;
      this.onSend?.(e.node.addr, p.to, p.data, lost);
      if (lost) continue;
      const delay = this.#minDelay + this.random() * (this.#maxDelay - this.#minDelay);
      this.#push(DELIVER, this.now + delay, p.to, e.node.addr, p.data);
    }
    if (this.now < e.pausedUntil) return;
    const d = Math.max(e.node.nextDeadline(), this.now + 1);
    if (d < e.armedAt || e.armedAt <= this.now) {
      e.armedAt = d;
      this.#push(WAKE, d, e.node.addr, "", "");
    }
  }

  #push(kind: number, at: number, to: string, from: string, data: string): void {
    this.#heap.push(new Ev(at, ++this.#seq, kind, to, from, data));
  }
}
