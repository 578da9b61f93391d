/**
 * Sans-IO SWIM + Lifeguard membership core. The caller feeds it time, packets and a random
 * source, calls `tick` at `nextDeadline()`, and drains packets to send and membership events.
 * Nothing here reads a clock, draws randomness or touches a socket, so the simulator and the
 * UDP shell drive exactly the same code.
 *
 * This file composes the parts and dispatches packets: probe.ts (the probe cycle), relays.ts
 * (indirect probes for others), suspicions.ts (timers and final checks), news.ts (merge
 * rules and refutation), exchange.ts (join, push-pull, reconnect), strangers.ts (asking
 * unknown senders), outbox.ts (packets, piggybacked gossip, events).
 */
import { Awareness } from "./awareness.ts";
import { type SwimConfig, swimConfig } from "./config.ts";
import { Exchanges } from "./exchange.ts";
import { type Member, type MemberView, STATE_NAMES } from "./members.ts";
import { type Msg, decodeEnvelope } from "./messages.ts";
import { News } from "./news.ts";
import { Outbox, type Packet, type PingDeps, type SwimEvent, type SwimStats, newStats } from "./outbox.ts";
import { Prober } from "./probe.ts";
import { Relays } from "./relays.ts";
import { Self } from "./self.ts";
import { Strangers } from "./strangers.ts";
import { Suspicions } from "./suspicions.ts";
import { MemberTable } from "./table.ts";
import { ackText, deadText, userText } from "./texts.ts";

export type { MemberChange, Packet, SwimEvent, SwimStats } from "./outbox.ts";

export interface SwimOptions {
  /** Stable node id (a persistent host UUID). */
  id: string;
  /** Address peers reach us at ("host:port" in the shell, any token in the simulator). */
  addr: string;
  /** Bumped when a host is rebuilt with empty state; a higher generation replaces the old entry. */
  generation: number;
  /** Last incarnation the caller persisted (0 on first start); we continue above it. */
  incarnation: number;
  now: number;
  /** Uniform [0, 1). */
  random: () => number;
  config?: Partial<SwimConfig>;
}

export class SwimCore {
  readonly config: SwimConfig;
  readonly id: string;
  readonly addr: string;
  readonly generation: number;
  readonly stats: SwimStats = newStats();
  readonly awareness: Awareness;
  readonly #random: () => number;
  readonly #self: Self;
  readonly #table = new MemberTable();
  readonly #out: Outbox;
  readonly #prober: Prober;
  readonly #relays: Relays;
  readonly #suspicions: Suspicions;
  readonly #news: News;
  readonly #exchanges: Exchanges;
  readonly #strangers: Strangers;
  /** Sequence numbers of our pings, shared by probes, relays, nudges and final checks. */
  #seq = 0;
  #nextGossipAt: number;
  #lastTick: number;

  constructor(o: SwimOptions) {
    const config = swimConfig(o.config);
    this.config = config;
    this.id = o.id;
    this.addr = o.addr;
    this.generation = o.generation;
    this.#random = o.random;
    this.awareness = new Awareness(config.awarenessMax);
    const table = this.#table;
    const out = new Outbox(o.id, config, this.stats, () => table.size());
    this.#out = out;
    // Continue above the persisted incarnation: the cluster may hold us dead at that number.
    this.#self = new Self(o.id, o.addr, o.generation, o.incarnation + 1);
    out.event({ type: "incarnation", value: this.#self.incarnation });
    this.#lastTick = o.now;
    const base: PingDeps = { config, selfId: o.id, table, out, random: o.random, nextSeq: () => ++this.#seq };
    // Our own verdict on a member: a failed probe accuses it, unanswered final checks kill it.
    const accuse = (m: Member) => ({ n: m.id, g: m.generation, i: m.incarnation, f: o.id });
    // Construction order is the order of random draws: first probe time, then push-pull place.
    this.#prober = new Prober(
      { ...base, awareness: this.awareness, failed: (m, now) => this.#news.onSuspect(accuse(m), now) },
      o.now,
    );
    this.#nextGossipAt = o.now + config.gossipIntervalMs;
    this.#exchanges = new Exchanges({ config, self: this.#self, table, out, random: o.random }, o.now);
    this.#relays = new Relays(base);
    this.#suspicions = new Suspicions({ ...base, expired: (m, now) => this.#news.onDead(accuse(m), now) });
    this.#news = new News({
      config,
      self: this.#self,
      table,
      suspicions: this.#suspicions,
      prober: this.#prober,
      out,
      stats: this.stats,
      awareness: this.awareness,
    });
    this.#strangers = new Strangers({ config, table, exchanges: this.#exchanges });
    out.queue.push(`m:${o.id}`, this.#self.aliveText());
  }

  get incarnation(): number {
    return this.#self.incarnation;
  }

  get queued(): number {
    return this.#out.queue.size;
  }

  get queueDropped(): number {
    return this.#out.queue.dropped;
  }

  /** Members other than us that are alive or suspect. */
  get liveCount(): number {
    return this.#table.live.size;
  }

  /** Ask the peers at `addrs` for their member lists (and give them ours). */
  join(now: number, addrs: string[]): void {
    this.#exchanges.join(now, addrs);
  }

  /** Announce a graceful leave; keep ticking for a moment so it spreads, then stop. */
  leave(_now: number): void {
    const self = this.#self;
    self.leaving = true;
    this.#out.queue.push(`m:${self.id}`, deadText(self.id, self.generation, self.incarnation, self.id));
    this.#gossip();
  }

  /** Event-loop lag seen by the shell: a late loop means our own timing is unreliable. */
  reportLag(lagMs: number): void {
    if (lagMs > this.config.lagThresholdMs) this.awareness.apply(1);
  }

  /** Piggyback a payload for the layer above; a newer payload with the same key replaces it. */
  broadcast(key: string, data: unknown): void {
    this.#out.queue.push(`u:${key}`, userText(data));
  }

  /** Send a payload to one address at once. False when it cannot fit in a packet. */
  sendUser(addr: string, data: unknown): boolean {
    const text = userText(data);
    if (Buffer.byteLength(text) > this.#out.room) {
      this.stats.oversize++;
      return false;
    }
    // Without piggyback: only probes, acks and gossip rounds carry broadcasts, so the
    // membership packet budget bounds gossip bandwidth however busy state sync is.
    this.#out.emit(addr, [text]);
    return true;
  }

  addressOf(id: string): string | undefined {
    return id === this.id ? this.addr : this.#table.get(id)?.addr;
  }

  /** Ids of members currently alive or suspect (not us). */
  liveIds(): readonly string[] {
    return this.#table.live.values();
  }

  pickLive(k: number): string[] {
    return this.#table.live.pick(k, this.#random);
  }

  isReachable(id: string): boolean {
    return id === this.id || this.#table.live.has(id);
  }

  /** One member's state without building views (cheap; for polling). */
  stateOf(id: string): MemberView["state"] | undefined {
    if (id === this.id) return this.#self.leaving ? "left" : "alive";
    const m = this.#table.get(id);
    return m ? STATE_NAMES[m.state] : undefined;
  }

  members(): MemberView[] {
    return [this.#self.view(), ...[...this.#table.byId.values()].map((m) => this.#table.view(m))];
  }

  drain(): { packets: Packet[]; events: SwimEvent[] } {
    return this.#out.drain();
  }

  nextDeadline(): number {
    const timers = Math.min(this.#nextGossipAt, this.#exchanges.deadline(), this.#prober.deadline());
    return Math.min(timers, this.#suspicions.deadline(), this.#relays.deadline(), this.#strangers.deadline());
  }

  tick(now: number): void {
    this.#forgiveOwnStall(now);
    this.#prober.tick(now);
    this.#suspicions.tick(now);
    this.#relays.tick(now);
    this.#strangers.tick(now);
    if (now >= this.#nextGossipAt) {
      // Re-anchor on now rather than catching up: a stalled node must not burst.
      this.#nextGossipAt = now + this.config.gossipIntervalMs;
      this.#gossip();
    }
    this.#exchanges.tick(now);
  }

  /**
   * One packet from address `from`. `authSender` is the sender id the crypto layer
   * authenticated; a packet claiming to be from anyone else is dropped.
   */
  receive(now: number, from: string, text: string, authSender?: string): void {
    this.stats.packetsIn++;
    const env = text.length <= 65_536 ? decodeEnvelope(text) : null;
    if (!env || (authSender !== undefined && env.f !== authSender)) {
      this.stats.malformed++;
      return;
    }
    if (env.f === this.id) {
      if (from !== this.#self.addr) this.#namesake(from, now);
      return;
    }
    // Piggybacked news first, pings last: an accusation riding on a ping (buddy system) must
    // be refuted before the ack goes out, so the refutation rides on that ack.
    for (const m of env.m) if (m.t !== "p") this.#handle(m, env.f, from, now);
    const misdirected = this.stats.misdirected;
    for (const m of env.m) if (m.t === "p") this.#handle(m, env.f, from, now);
    if (this.#table.missing(env.f) && this.stats.misdirected === misdirected) this.#strangers.ask(env.f, from, now);
  }

  /**
   * We tick at least every gossip interval. A much later tick means we were stalled (GC,
   * blocked loop, SIGSTOP); time we could not observe must not count against members we
   * suspect, so their suspicion deadlines move out by the stall, and our health score rises.
   */
  #forgiveOwnStall(now: number): void {
    const stall = now - this.#lastTick - 2 * this.config.gossipIntervalMs;
    this.#lastTick = now;
    if (stall <= this.config.probeTimeoutMs) return;
    this.awareness.apply(1);
    this.#suspicions.forgive(stall);
  }

  /** When we last told each namesake address about itself; bounded. */
  readonly #namesakes = new Map<string, number>();

  /**
   * Another host sends under our id. Its messages would be taken for our own and dropped, so
   * the two would never converge: say so (event), and answer once in a while so that it learns
   * it too (it sees our id on the answer). Bounded: at most 16 addresses, one answer per 5 s.
   */
  #namesake(from: string, now: number): void {
    const last = this.#namesakes.get(from);
    if (last === undefined) {
      if (this.#namesakes.size >= 16) return;
      this.#out.event({ type: "namesake", addr: from });
    } else if (now - last < 5_000) return;
    this.#namesakes.set(from, now);
    this.#out.send(from, [ackText(0)]);
  }

  #handle(m: Msg, sender: string, from: string, now: number): void {
    switch (m.t) {
      case "p":
        if (m.n !== this.id) this.stats.misdirected++;
        else this.#out.send(from, [ackText(m.q)]);
        return;
      case "a":
        // Ours, else a final check's before death, else one we relay for another member.
        if (!this.#prober.ack(m.q, now) && !this.#suspicions.ackCheck(m.q, now)) this.#relays.ack(m.q);
        return;
      case "n":
        return this.#prober.nack(m.q);
      case "r":
        return this.#relays.request(from, m, now);
      case "A":
        return this.#news.onAlive(m, now);
      case "S":
        return this.#news.onSuspect(m, now);
      case "D":
        return this.#news.onDead(m, now);
      case "M":
        for (const [n, a, g, i, s] of m.m) this.#news.mergeTuple(n, a, g, i, s, sender, now);
        return this.#exchanges.answer(m.r, sender, from);
      case "u":
        return this.#out.event({ type: "user", from: sender, addr: from, data: m.d });
    }
  }

  /** A dedicated gossip round: queued broadcasts to a few random live members. */
  #gossip(): void {
    const out = this.#out;
    if (out.queue.size === 0) return;
    for (const id of this.#table.live.pick(this.config.gossipNodes, this.#random)) {
      const parts = out.take(out.room);
      if (parts.length === 0) return;
      out.emit(this.#table.get(id)!.addr, parts);
    }
  }
}
