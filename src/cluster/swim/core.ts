/**
 * Sans-IO SWIM + Lifeguard membership core. The caller feeds it time, packets and a random
 * source, calls `tick` at `nextDeadline()`, and drains packets to send and membership events.
 * Nothing here reads a clock, draws randomness or touches a socket, so the simulator and the
 * UDP shell drive exactly the same code.
 */
import { Awareness } from "./awareness.ts";
import { type SwimConfig, swimConfig } from "./config.ts";
import { pushPullInterval, retransmitLimit, scaledProbeInterval, suspicionConfirmations, suspicionTimeout } from "./math.ts";
import { IndexedSet, type Member, type MemberView, STATE_NAMES, isGone, newMember, toTuple } from "./members.ts";
import { ALIVE, DEAD, LEFT, type MemberState, type Msg, SUSPECT, decodeEnvelope, encodeEnvelope } from "./messages.ts";
import { Suspicion } from "./suspicion.ts";
import { TransmitQueue } from "./queue.ts";

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

export type MemberChange = "join" | "alive" | "suspect" | "dead" | "left" | "replaced";
export type SwimEvent =
  | { type: "member"; change: MemberChange; member: MemberView }
  /** Persist this before relying on it: a restarted node must not reuse an incarnation. */
  | { type: "incarnation"; value: number }
  | { type: "user"; from: string; addr: string; data: unknown };

export interface Packet {
  to: string;
  data: string;
}

export interface SwimStats {
  packetsIn: number;
  packetsOut: number;
  bytesOut: number;
  malformed: number;
  misdirected: number;
  conflicts: number;
  refutes: number;
  oversize: number;
}

interface Probe {
  target: string;
  seq: number;
  sentAt: number;
  deadline: number;
  indirect: boolean;
  /** When the last round of direct retries goes out (after the indirect request). */
  retryAt: number;
  expectedNacks: number;
  nacks: number;
}

interface Relay {
  requester: string;
  seq: number;
  nackAt: number;
  expireAt: number;
  nacked: boolean;
}

export class SwimCore {
  readonly config: SwimConfig;
  readonly id: string;
  readonly addr: string;
  readonly generation: number;
  readonly stats: SwimStats = { packetsIn: 0, packetsOut: 0, bytesOut: 0, malformed: 0, misdirected: 0, conflicts: 0, refutes: 0, oversize: 0 };
  readonly awareness: Awareness;
  #inc: number;
  #random: () => number;
  #now: number;
  readonly #members = new Map<string, Member>();
  readonly #live = new IndexedSet();
  readonly #suspicions = new Map<string, Suspicion>();
  readonly #relays = new Map<number, Relay>();
  readonly #rtt = new Map<string, number>();
  readonly #queue: TransmitQueue;
  #probe: Probe | null = null;
  #order: string[] = [];
  #orderIdx = 0;
  #seq = 0;
  #rounds = 0;
  #nextProbeAt: number;
  #nextGossipAt: number;
  #lastPushPullAt: number;
  /** This node's fixed place in the push-pull period (0.5-1.5): hosts that start together spread out. */
  readonly #pushPullJitter: number;
  #nextReconnectAt: number;
  #leaving = false;
  /** Addresses given to `join`, retried while we know no live member (lost join packets). */
  #seeds: string[] = [];
  #nextJoinAt = Infinity;
  #lastTick: number;
  /**
   * Our own refutation rides first in every packet for a few sends: after a stall the queue is
   * full of fresher gossip, and a refutation stuck behind it is a false positive.
   */
  #urgent: { text: string; left: number } | null = null;
  readonly #confirmed = new Set<string>();
  readonly #asked = new Map<string, { addr: string; tries: number; since: number; next: number }>();
  #out: Packet[] = [];
  #events: SwimEvent[] = [];

  constructor(o: SwimOptions) {
    this.config = swimConfig(o.config);
    this.id = o.id;
    this.addr = o.addr;
    this.generation = o.generation;
    this.#random = o.random;
    this.#now = o.now;
    this.awareness = new Awareness(this.config.awarenessMax);
    this.#queue = new TransmitQueue(this.config.queueMaxItems);
    // Continue above the persisted incarnation: the cluster may hold us dead at that number.
    this.#inc = o.incarnation + 1;
    this.#events.push({ type: "incarnation", value: this.#inc });
    this.#lastTick = o.now;
    this.#nextProbeAt = o.now + Math.floor(this.#random() * this.config.probeIntervalMs);
    this.#nextGossipAt = o.now + this.config.gossipIntervalMs;
    // Staggered: hosts that start together (a rack after a power cut, the simulator) must not
    // all exchange their full tables in the same second, and again every period after. The
    // period follows the cluster's current size, so the first one after joining a large
    // cluster is as far off as the later ones (joining already exchanged full tables).
    this.#lastPushPullAt = o.now;
    this.#pushPullJitter = 0.5 + this.#random();
    this.#nextReconnectAt = o.now + this.config.reconnectIntervalMs;
    this.#broadcastSelf();
  }

  get incarnation(): number {
    return this.#inc;
  }

  get queued(): number {
    return this.#queue.size;
  }

  get queueDropped(): number {
    return this.#queue.dropped;
  }

  /** Members other than us that are alive or suspect. */
  get liveCount(): number {
    return this.#live.size;
  }

  /** Ask the peers at `addrs` for their member lists (and give them ours). */
  join(now: number, addrs: string[]): void {
    this.#now = now;
    this.#seeds = addrs.filter((a) => a !== this.addr);
    this.#nextJoinAt = now + this.config.probeIntervalMs;
    for (const a of this.#seeds) this.#sendState(a, 1);
  }

  /** Announce a graceful leave; keep ticking for a moment so it spreads, then stop. */
  leave(now: number): void {
    this.#now = now;
    this.#leaving = true;
    this.#queue.push(`m:${this.id}`, JSON.stringify({ t: "D", n: this.id, g: this.generation, i: this.#inc, f: this.id }));
    this.#gossip();
  }

  /** Event-loop lag seen by the shell: a late loop means our own timing is unreliable. */
  reportLag(lagMs: number): void {
    if (lagMs > this.config.lagThresholdMs) this.awareness.apply(1);
  }

  /** Piggyback a payload for the layer above; a newer payload with the same key replaces it. */
  broadcast(key: string, data: unknown): void {
    this.#queue.push(`u:${key}`, JSON.stringify({ t: "u", d: data }));
  }

  /** Send a payload to one address at once. False when it cannot fit in a packet. */
  sendUser(addr: string, data: unknown): boolean {
    const text = JSON.stringify({ t: "u", d: data });
    if (Buffer.byteLength(text) > this.config.maxPacketBytes - this.id.length - 16) {
      this.stats.oversize++;
      return false;
    }
    // Without piggyback: only probes, acks and gossip rounds carry broadcasts, so the
    // membership packet budget bounds gossip bandwidth however busy state sync is.
    this.#emitPacket(addr, [text]);
    return true;
  }

  addressOf(id: string): string | undefined {
    return id === this.id ? this.addr : this.#members.get(id)?.addr;
  }

  /** Ids of members currently alive or suspect (not us). */
  liveIds(): readonly string[] {
    return this.#live.values();
  }

  pickLive(k: number): string[] {
    return this.#live.pick(k, this.#random);
  }

  isReachable(id: string): boolean {
    return id === this.id || this.#live.has(id);
  }

  /** One member's state without building views (cheap; for polling). */
  stateOf(id: string): MemberView["state"] | undefined {
    if (id === this.id) return this.#leaving ? "left" : "alive";
    const m = this.#members.get(id);
    return m ? STATE_NAMES[m.state] : undefined;
  }

  members(): MemberView[] {
    const self: MemberView = { id: this.id, addr: this.addr, generation: this.generation, incarnation: this.#inc, state: this.#leaving ? "left" : "alive", since: 0, rttMs: 0 };
    return [self, ...[...this.#members.values()].map((m) => this.#view(m))];
  }

  drain(): { packets: Packet[]; events: SwimEvent[] } {
    const r = { packets: this.#out, events: this.#events };
    this.#out = [];
    this.#events = [];
    return r;
  }

  nextDeadline(): number {
    let d = Math.min(this.#nextGossipAt, this.#nextPushPullAt(), this.#nextReconnectAt, this.#nextJoinAt);
    const p = this.#probe;
    d = Math.min(d, p ? (p.indirect ? Math.min(p.deadline, p.retryAt) : p.sentAt + this.config.probeTimeoutMs) : this.#nextProbeAt);
    for (const s of this.#suspicions.values()) d = Math.min(d, s.deadline, s.nudgeAt);
    for (const r of this.#relays.values()) d = Math.min(d, r.nacked ? r.expireAt : r.nackAt);
    for (const a of this.#asked.values()) d = Math.min(d, a.next);
    return d;
  }

  tick(now: number): void {
    this.#now = now;
    this.#forgiveOwnStall(now);
    this.#tickProbe(now);
    for (const [id, s] of this.#suspicions) {
      if (now >= s.nudgeAt) this.#nudge(id, s);
      if (now >= s.deadline) this.#expireSuspicion(id);
    }
    this.#tickRelays(now);
    this.#tickAsked(now);
    if (now >= this.#nextGossipAt) {
      // Re-anchor on now rather than catching up: a stalled node must not burst.
      this.#nextGossipAt = now + this.config.gossipIntervalMs;
      this.#gossip();
    }
    if (now >= this.#nextPushPullAt()) {
      this.#lastPushPullAt = now;
      const [peer] = this.#live.pick(1, this.#random);
      const m = peer ? this.#members.get(peer) : undefined;
      if (m) this.#sendState(m.addr, 1);
    }
    if (now >= this.#nextJoinAt) {
      // Retry until a seed itself is live: joining only a fellow newcomer would leave an island.
      const seeded = [...this.#members.values()].some((m) => !isGone(m) && this.#seeds.includes(m.addr));
      this.#nextJoinAt = seeded ? Infinity : now + this.config.probeIntervalMs;
      if (!seeded) for (const a of this.#seeds) this.#sendHello(a);
    }
    if (now >= this.#nextReconnectAt) {
      this.#nextReconnectAt = now + this.config.reconnectIntervalMs;
      this.#reconnect();
    }
  }

  #nextPushPullAt(): number {
    return this.#lastPushPullAt + Math.floor(this.#pushPullJitter * pushPullInterval(this.config.pushPullIntervalMs, this.#size()));
  }

  #reconnect(): void {
    const dead = [...this.#members.values()].filter((m) => m.state === DEAD);
    // A few at a time: after a partition heals, half the cluster is dead to the other half and
    // each member must be told so before it refutes; one per period took a minute at 100 hosts.
    const want = Math.min(16, Math.max(3, Math.ceil(dead.length / 16)));
    for (let k = 0; k < want && dead.length; k++) {
      const d = dead.splice(Math.floor(this.#random() * dead.length), 1)[0];
      // Tell it that we hold it dead: a live one refutes and answers with its own (newer)
      // entry, and with ours if it holds us dead too, so one round trip heals both directions.
      this.#sendHello(d.addr, [JSON.stringify(toTuple(d))], 2);
    }
  }

  /**
   * Our own entry (plus `extra`). Reply 1 asks for the peer's whole table (join, reconnect),
   * 2 for its own entry only, 0 for nothing.
   */
  #sendHello(addr: string, extra: string[] = [], reply: 0 | 1 | 2 = 1): void {
    const self = JSON.stringify([this.id, this.addr, this.generation, this.#inc, ALIVE]);
    this.#emitPacket(addr, [`{"t":"M","r":${reply},"m":[${[self, ...extra].join(",")}]}`]);
  }

  /** Never heard of, or held dead (not left): a packet from it means we missed news. */
  #missing(id: string): boolean {
    const m = this.#members.get(id);
    return !m || m.state === DEAD;
  }

  /**
   * A packet from a member we have never heard of, or hold dead: every copy of its join or
   * refutation gossip was lost to us, and push-pull may be minutes away. Ask it for its own
   * entry (telling it we hold it dead, so it refutes if it has not), and ask again each probe
   * interval (3 tries) until it answers, so one lost rumour does not leave a hole in our view.
   */
  #askUnknown(id: string, from: string, now: number): void {
    if (this.#asked.has(id) || this.#asked.size >= 64) return;
    this.#asked.set(id, { addr: from, tries: 1, since: now, next: now + this.config.probeIntervalMs });
    this.#askFor(id, from);
  }

  #askFor(id: string, addr: string): void {
    const m = this.#members.get(id);
    this.#sendHello(addr, m ? [JSON.stringify(toTuple(m))] : [], 2);
  }

  #tickAsked(now: number): void {
    for (const [id, a] of this.#asked) {
      if (now < a.next) continue;
      if (!this.#missing(id) || a.tries >= 3) {
        // The entry stays a while as a rate limit, then goes.
        if (now - a.since >= 10 * this.config.probeIntervalMs) this.#asked.delete(id);
        else a.next = a.since + 10 * this.config.probeIntervalMs;
        continue;
      }
      a.tries++;
      a.next = now + this.config.probeIntervalMs;
      this.#askFor(id, a.addr);
    }
  }

  /**
   * One packet from address `from`. `authSender` is the sender id the crypto layer
   * authenticated; a packet claiming to be from anyone else is dropped.
   */
  receive(now: number, from: string, text: string, authSender?: string): void {
    this.#now = now;
    this.stats.packetsIn++;
    const env = text.length <= 65_536 ? decodeEnvelope(text) : null;
    if (!env || (authSender !== undefined && env.f !== authSender)) {
      this.stats.malformed++;
      return;
    }
    if (env.f === this.id) return;
    // Piggybacked news first, pings last: an accusation riding on a ping (buddy system) must
    // be refuted before the ack goes out, so the refutation rides on that ack.
    for (const m of env.m) if (m.t !== "p") this.#handle(m, env.f, from, now);
    const misdirected = this.stats.misdirected;
    for (const m of env.m) if (m.t === "p") this.#handle(m, env.f, from, now);
    if (this.#missing(env.f) && this.stats.misdirected === misdirected) this.#askUnknown(env.f, from, now);
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
    for (const s of this.#suspicions.values()) s.deadline += stall;
  }

  // ---- probing -------------------------------------------------------------------------

  #tickProbe(now: number): void {
    const p = this.#probe;
    if (p && !p.indirect && now >= p.sentAt + this.config.probeTimeoutMs) this.#sendIndirect(p);
    if (p && p.indirect && now >= p.retryAt) {
      p.retryAt = Infinity;
      this.#retryDirect(p);
    }
    if (p && now >= p.deadline) this.#failProbe(p, now);
    if (!this.#probe && now >= this.#nextProbeAt) this.#startProbe(now);
  }

  #startProbe(now: number): void {
    const interval = scaledProbeInterval(this.config.probeIntervalMs, this.awareness.score);
    this.#nextProbeAt = now + interval;
    if (++this.#rounds % 16 === 0) this.#reap(now);
    const m = this.#nextTarget();
    if (!m) return;
    const seq = ++this.#seq;
    this.#probe = { target: m.id, seq, sentAt: now, deadline: now + interval, indirect: false, retryAt: Infinity, expectedNacks: 0, nacks: 0 };
    const parts = [JSON.stringify({ t: "p", q: seq, n: m.id })];
    // Buddy system: tell a suspect member directly so it can refute at once.
    if (m.state === SUSPECT) parts.push(this.#stateText(m));
    this.#send(m.addr, parts);
  }

  #nextTarget(): Member | undefined {
    for (let tries = 0; tries <= this.#order.length; tries++) {
      if (this.#orderIdx >= this.#order.length) {
        this.#order = shuffle([...this.#live.values()], this.#random);
        this.#orderIdx = 0;
        if (this.#order.length === 0) return undefined;
      }
      const m = this.#members.get(this.#order[this.#orderIdx++]);
      if (m && !isGone(m)) return m;
    }
    return undefined;
  }

  #sendIndirect(p: Probe): void {
    p.indirect = true;
    const m = this.#members.get(p.target);
    if (!m) return;
    const helpers = this.#live.pick(this.config.indirectChecks, this.#random, new Set([p.target]));
    p.expectedNacks = helpers.length;
    const text = JSON.stringify({ t: "r", q: p.seq, n: m.id, a: m.addr });
    for (const h of helpers) this.#send(this.#members.get(h)!.addr, [text]);
    this.#retryDirect(p);
    p.retryAt = p.sentAt + this.config.probeTimeoutMs + Math.floor((p.deadline - p.sentAt - this.config.probeTimeoutMs) / 2);
  }

  /**
   * Direct retries play the part of memberlist's TCP fallback: a lossy path must not be
   * enough to accuse a member. They cost nothing while first pings are answered; at 30 % loss
   * they cut false suspicions from about 1 probe in 9 to 1 in 60.
   */
  #retryDirect(p: Probe): void {
    const m = this.#members.get(p.target);
    if (!m) return;
    const ping = JSON.stringify({ t: "p", q: p.seq, n: m.id });
    for (let i = 0; i < this.config.directRetries; i++) this.#emitPacket(m.addr, [ping]);
  }

  #failProbe(p: Probe, now: number): void {
    this.#probe = null;
    // We ran late by more than a probe timeout: the silence is most likely our own stall.
    if (now - p.deadline > this.config.probeTimeoutMs) {
      this.awareness.apply(1);
      return;
    }
    this.awareness.apply(p.expectedNacks > 0 ? Math.max(0, p.expectedNacks - p.nacks) : 1);
    const m = this.#members.get(p.target);
    // Also when already suspect: our own failed probe is an independent confirmation.
    if (m && !isGone(m)) this.#onSuspect({ n: m.id, g: m.generation, i: m.incarnation, f: this.id }, now);
  }

  #tickRelays(now: number): void {
    for (const [seq, r] of this.#relays) {
      if (now >= r.expireAt) this.#relays.delete(seq);
      else if (!r.nacked && now >= r.nackAt) {
        r.nacked = true;
        this.#send(r.requester, [JSON.stringify({ t: "n", q: r.seq })]);
      }
    }
  }

  // ---- receiving -----------------------------------------------------------------------

  #handle(m: Msg, sender: string, from: string, now: number): void {
    switch (m.t) {
      case "p":
        if (m.n !== this.id) this.stats.misdirected++;
        else this.#send(from, [JSON.stringify({ t: "a", q: m.q })]);
        return;
      case "a":
        return this.#onAck(m.q, now);
      case "n":
        if (this.#probe && this.#probe.seq === m.q) this.#probe.nacks++;
        return;
      case "r": {
        const seq = ++this.#seq;
        const timeout = this.config.probeTimeoutMs;
        this.#relays.set(seq, { requester: from, seq: m.q, nackAt: now + timeout, expireAt: now + this.config.probeIntervalMs, nacked: false });
        this.#send(m.a, [JSON.stringify({ t: "p", q: seq, n: m.n })]);
        return;
      }
      case "A":
        return this.#onAlive(m, now);
      case "S":
        return this.#onSuspect(m, now);
      case "D":
        return this.#onDead(m, now);
      case "M":
        for (const [n, a, g, i, s] of m.m) this.#mergeTuple(n, a, g, i, s, sender, now);
        if (m.r === 1) this.#sendState(from, 0);
        else if (m.r === 2) {
          const held = this.#members.get(sender);
          this.#sendHello(from, held && held.state === DEAD ? [JSON.stringify(toTuple(held))] : [], 0);
        }
        return;
      case "u":
        this.#events.push({ type: "user", from: sender, addr: from, data: m.d });
        return;
    }
  }

  #onAck(seq: number, now: number): void {
    const p = this.#probe;
    if (p && p.seq === seq) {
      this.#probe = null;
      this.#rtt.set(p.target, now - p.sentAt);
      this.awareness.apply(-1);
      return;
    }
    // An answer to the last check before death: the member lives. Keep suspecting (only its
    // own refutation may clear that) but give the refutation another full minimum to arrive.
    for (const s of this.#suspicions.values()) {
      if (!s.checkSeqs.includes(seq)) continue;
      s.checks = 0;
      s.checkSeqs = [];
      s.deadline = now + s.minMs;
      return;
    }
    const r = this.#relays.get(seq);
    if (r) {
      this.#relays.delete(seq);
      this.#send(r.requester, [JSON.stringify({ t: "a", q: r.seq })]);
    }
  }

  /** A full-state entry: alive and suspect as such; dead as suspect so the node can refute. */
  #mergeTuple(n: string, a: string, g: number, i: number, s: MemberState, sender: string, now: number): void {
    if (s === ALIVE) this.#onAlive({ n, a, g, i }, now);
    else if (s === LEFT) this.#onDead({ n, g, i, f: n }, now);
    else if (this.#members.has(n) || n === this.id) this.#onSuspect({ n, g, i, f: sender }, now);
    else if (s === SUSPECT) {
      this.#onAlive({ n, a, g, i }, now);
      this.#onSuspect({ n, g, i, f: sender }, now);
    }
  }

  #onAlive(m: { n: string; a: string; g: number; i: number }, now: number): void {
    if (m.n === this.id) {
      if (m.g > this.generation) this.stats.conflicts++;
      else if (m.g === this.generation && m.i > this.#inc && !this.#leaving) this.#refute(m.i);
      return;
    }
    const cur = this.#members.get(m.n);
    if (!cur || m.g > cur.generation) {
      const fresh = newMember(m.n, m.a, m.g, m.i, now);
      this.#suspicions.delete(m.n);
      this.#members.set(m.n, fresh);
      this.#live.add(m.n);
      this.#order.splice(this.#orderIdx + Math.floor(this.#random() * (this.#order.length - this.#orderIdx + 1)), 0, m.n);
      this.#queue.push(`m:${m.n}`, this.#stateText(fresh));
      this.#emit(cur ? "replaced" : "join", fresh);
      return;
    }
    if (m.g < cur.generation || m.i <= cur.incarnation) return;
    cur.incarnation = m.i;
    cur.addr = m.a;
    if (cur.state !== ALIVE) {
      this.#suspicions.delete(m.n);
      this.#setState(cur, ALIVE, now);
      this.#emit("alive", cur);
    }
    this.#queue.push(`m:${m.n}`, this.#stateText(cur));
  }

  #onSuspect(m: { n: string; g: number; i: number; f: string }, now: number): void {
    if (m.n === this.id) {
      if (m.g !== this.generation || this.#leaving) return;
      if (m.i >= this.#inc) this.#refute(m.i);
      // A stale accusation is still circulating: our refutation missed someone, resend it.
      else this.#urgent ??= { text: this.#aliveSelfText(), left: 3 };
      return;
    }
    const cur = this.#members.get(m.n);
    if (cur && cur.state === DEAD && m.g === cur.generation && m.i > cur.incarnation) return this.#confirmDeath(cur, m);
    if (!cur || m.g !== cur.generation || m.i < cur.incarnation || isGone(cur)) return;
    if (cur.state === SUSPECT) {
      // Re-gossip only new, independent confirmations (Lifeguard dogpile).
      // Callers pass bare fields (a failed probe, a merged table entry): build the message here.
      if (m.i === cur.incarnation && this.#suspicions.get(m.n)?.confirm(m.f)) this.#queue.push(`m:${m.n}`, JSON.stringify({ t: "S", n: m.n, g: m.g, i: m.i, f: m.f }));
      return;
    }
    cur.incarnation = m.i;
    this.#setState(cur, SUSPECT, now);
    const n = this.#size();
    const min = suspicionTimeout(this.config.suspicionStallMs, this.config.suspicionSpreadMs, n);
    const k = suspicionConfirmations(this.config.suspicionConfirmations, n);
    this.#suspicions.set(m.n, new Suspicion(now, k, min, min * this.config.suspicionMaxTimeoutMult, m.f));
    this.#queue.push(`m:${m.n}`, JSON.stringify({ t: "S", n: m.n, g: m.g, i: m.i, f: m.f }));
    this.#emit("suspect", cur);
  }

  #onDead(m: { n: string; g: number; i: number; f: string }, now: number): void {
    if (m.n === this.id) {
      if (m.f === this.id || m.g !== this.generation || this.#leaving) return;
      if (m.i >= this.#inc) this.#refute(m.i);
      else this.#urgent ??= { text: this.#aliveSelfText(), left: 3 };
      return;
    }
    const cur = this.#members.get(m.n);
    if (!cur || m.g !== cur.generation || m.i < cur.incarnation || isGone(cur)) return;
    cur.incarnation = m.i;
    this.#suspicions.delete(m.n);
    const left = m.f === m.n;
    this.#setState(cur, left ? LEFT : DEAD, now);
    this.#queue.push(`m:${m.n}`, JSON.stringify({ t: "D", n: m.n, g: m.g, i: m.i, f: m.f }));
    this.#emit(left ? "left" : "dead", cur);
  }

  /**
   * Someone suspects, at a newer incarnation, a member we already hold dead: it missed the
   * death and will wait out its longest timer alone. Our independent confirmation (sent once
   * per member and incarnation) lets its timer shrink to the minimum.
   */
  #confirmDeath(cur: Member, m: { n: string; g: number; i: number; f: string }): void {
    const key = `${m.n}/${m.i}`;
    const to = this.#members.get(m.f)?.addr;
    if (!to || this.#confirmed.has(key)) return;
    if (this.#confirmed.size > 1024) this.#confirmed.clear();
    this.#confirmed.add(key);
    this.#emitPacket(to, [JSON.stringify({ t: "S", n: cur.id, g: cur.generation, i: m.i, f: this.id })]);
  }

  /**
   * Gossip can miss us: a refutation that never reached us would let our timer run out on a
   * live member. So every fifth of the minimum while the suspicion stands, each holder tells
   * the suspect directly (the buddy system, from all holders rather than only the prober); a
   * live one answers with its refutation on the ack. One packet per holder per second or so.
   */
  #nudge(id: string, s: Suspicion): void {
    s.nudgeAt = this.#now + Math.floor(s.minMs / 5);
    const m = this.#members.get(id);
    if (!m || m.state !== SUSPECT) return;
    this.#emitPacket(m.addr, [JSON.stringify({ t: "p", q: ++this.#seq, n: id }), this.#stateText(m)]);
  }

  #expireSuspicion(id: string): void {
    const s = this.#suspicions.get(id);
    const m = this.#members.get(id);
    // Last chance before declaring death: two rounds of direct pings carrying the accusation
    // (and helpers). A live member answers with its refutation piggybacked on the ack.
    if (s && s.checks < 2 && m && m.state === SUSPECT) {
      s.checks++;
      s.deadline = this.#now + this.config.probeTimeoutMs;
      const seq = ++this.#seq;
      s.checkSeqs.push(seq);
      const check = [JSON.stringify({ t: "p", q: seq, n: id }), this.#stateText(m)];
      this.#send(m.addr, check);
      for (let i = 0; i < this.config.directRetries; i++) this.#emitPacket(m.addr, check);
      // Also through two helpers: under heavy loss one direct exchange proves little.
      const req = JSON.stringify({ t: "r", q: seq, n: id, a: m.addr });
      for (const h of this.#live.pick(2, this.#random, new Set([id]))) this.#emitPacket(this.#members.get(h)!.addr, [req]);
      return;
    }
    this.#suspicions.delete(id);
    if (m && m.state === SUSPECT) this.#onDead({ n: id, g: m.generation, i: m.incarnation, f: this.id }, this.#now);
  }

  #refute(accusedInc: number): void {
    this.#inc = accusedInc + 1;
    this.stats.refutes++;
    this.awareness.apply(1);
    this.#events.push({ type: "incarnation", value: this.#inc });
    this.#broadcastSelf();
    this.#urgent = { text: this.#aliveSelfText(), left: retransmitLimit(this.config.retransmitMult, this.#size()) };
  }

  #aliveSelfText(): string {
    return JSON.stringify({ t: "A", n: this.id, a: this.addr, g: this.generation, i: this.#inc });
  }

  // ---- sending -------------------------------------------------------------------------

  #broadcastSelf(): void {
    this.#queue.push(`m:${this.id}`, this.#aliveSelfText());
  }

  #gossip(): void {
    if (this.#queue.size === 0) return;
    for (const id of this.#live.pick(this.config.gossipNodes, this.#random)) {
      const parts = this.#take(this.config.maxPacketBytes - this.id.length - 16);
      if (parts.length === 0) return;
      this.#emitPacket(this.#members.get(id)!.addr, parts);
    }
  }

  /** Send primary messages, filling the rest of the packet with queued broadcasts. */
  #send(to: string, primary: string[]): void {
    let room = this.config.maxPacketBytes - this.id.length - 16;
    for (const p of primary) room -= Buffer.byteLength(p) + 1;
    this.#emitPacket(to, room > 0 ? [...primary, ...this.#take(room)] : primary);
  }

  #take(room: number): string[] {
    const u = this.#urgent;
    if (!u || u.text.length + 1 > room) return this.#queue.take(room, retransmitLimit(this.config.retransmitMult, this.#size()));
    if (--u.left <= 0) this.#urgent = null;
    return [u.text, ...this.#queue.take(room - u.text.length - 1, retransmitLimit(this.config.retransmitMult, this.#size()))];
  }

  #emitPacket(to: string, parts: string[]): void {
    const data = encodeEnvelope(this.id, parts);
    this.stats.packetsOut++;
    this.stats.bytesOut += data.length;
    this.#out.push({ to, data });
  }

  /** Our full member table, chunked so each packet stays under the size limit. */
  #sendState(to: string, reply: 0 | 1): void {
    const tuples = [JSON.stringify([this.id, this.addr, this.generation, this.#inc, this.#leaving ? LEFT : ALIVE])];
    for (const m of this.#members.values()) tuples.push(JSON.stringify(toTuple(m)));
    const room = this.config.maxPacketBytes - this.id.length - 40;
    let chunk: string[] = [];
    let used = 0;
    const flush = () => {
      this.#emitPacket(to, [`{"t":"M","r":${reply},"m":[${chunk.join(",")}]}`]);
      chunk = [];
      used = 0;
    };
    for (const t of tuples) {
      if (used + t.length + 1 > room && chunk.length) flush();
      chunk.push(t);
      used += t.length + 1;
    }
    if (chunk.length) flush();
  }

  // ---- helpers -------------------------------------------------------------------------

  #stateText(m: Member): string {
    if (m.state === ALIVE) return JSON.stringify({ t: "A", n: m.id, a: m.addr, g: m.generation, i: m.incarnation });
    return JSON.stringify({ t: m.state === SUSPECT ? "S" : "D", n: m.id, g: m.generation, i: m.incarnation, f: m.state === LEFT ? m.id : this.id });
  }

  #setState(m: Member, s: MemberState, now: number): void {
    m.state = s;
    m.since = now;
    if (s === DEAD || s === LEFT) this.#live.delete(m.id);
    else this.#live.add(m.id);
  }

  #size(): number {
    return this.#live.size + 1;
  }

  #reap(now: number): void {
    for (const [id, m] of this.#members) {
      if (isGone(m) && now - m.since > this.config.deadReapMs) this.#members.delete(id);
    }
  }

  #emit(change: MemberChange, m: Member): void {
    this.#events.push({ type: "member", change, member: this.#view(m) });
  }

  #view(m: Member): MemberView {
    return { id: m.id, addr: m.addr, generation: m.generation, incarnation: m.incarnation, state: STATE_NAMES[m.state], since: m.since, rttMs: this.#rtt.get(m.id) ?? null };
  }
}

function shuffle<T>(a: T[], random: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
