/**
 * Member table exchanges outside of gossip: joining through seed addresses (retried while no
 * seed is live), periodic push-pull with one live member, reconnect attempts to members held
 * dead, and the answers to all of them.
 */
import type { SwimConfig } from "./config.ts";
import { pushPullInterval } from "./math.ts";
import { type Member, isGone, toTuple } from "./members.ts";
import { DEAD } from "./messages.ts";
import type { Outbox } from "./outbox.ts";
import type { Self } from "./self.ts";
import type { MemberTable } from "./table.ts";
import { tableText } from "./texts.ts";

export interface ExchangeDeps {
  config: SwimConfig;
  self: Self;
  table: MemberTable;
  out: Outbox;
  random: () => number;
}

export class Exchanges {
  /** Addresses given to `join`, retried while we know no live member (lost join packets). */
  #seeds: string[] = [];
  #nextJoinAt = Infinity;
  #lastPushPullAt: number;
  /** This node's fixed place in the push-pull period (0.5-1.5): hosts that start together spread out. */
  readonly #pushPullJitter: number;
  #nextReconnectAt: number;

  constructor(
    private readonly d: ExchangeDeps,
    now: number,
  ) {
    // Staggered: hosts that start together (a rack after a power cut, the simulator) must not
    // all exchange their full tables in the same second, and again every period after. The
    // period follows the cluster's current size, so the first one after joining a large
    // cluster is as far off as the later ones (joining already exchanged full tables).
    this.#lastPushPullAt = now;
    this.#pushPullJitter = 0.5 + d.random();
    this.#nextReconnectAt = now + d.config.reconnectIntervalMs;
  }

  /** Ask the peers at `addrs` for their member lists (and give them ours). */
  join(now: number, addrs: string[]): void {
    this.#seeds = addrs.filter((a) => a !== this.d.self.addr);
    this.#nextJoinAt = now + this.d.config.probeIntervalMs;
    for (const a of this.#seeds) this.sendState(a, 1);
  }

  deadline(): number {
    return Math.min(this.#nextPushPullAt(), this.#nextReconnectAt, this.#nextJoinAt);
  }

  tick(now: number): void {
    const { config, table } = this.d;
    if (now >= this.#nextPushPullAt()) {
      this.#lastPushPullAt = now;
      const [peer] = table.live.pick(1, this.d.random);
      const m = peer ? table.get(peer) : undefined;
      if (m) this.sendState(m.addr, 1);
    }
    if (now >= this.#nextJoinAt) {
      // Retry until a seed itself is live: joining only a fellow newcomer would leave an island.
      const seeded = [...table.byId.values()].some((m) => !isGone(m) && this.#seeds.includes(m.addr));
      this.#nextJoinAt = seeded ? Infinity : now + config.probeIntervalMs;
      if (!seeded) for (const a of this.#seeds) this.hello(a);
    }
    if (now >= this.#nextReconnectAt) {
      this.#nextReconnectAt = now + config.reconnectIntervalMs;
      this.#reconnect();
    }
  }

  /** Answer a table message from member `sender` at `from` as its `reply` field asks. */
  answer(reply: number, sender: string, from: string): void {
    if (reply === 1) this.sendState(from, 0);
    else if (reply === 2) this.helloTo(from, this.d.table.get(sender), 0);
  }

  /**
   * Our entry, plus the member's entry as we hold it when we hold it dead: a live member that
   * reads it refutes, so its answer (or its gossip) revives it here.
   */
  helloTo(addr: string, held: Member | undefined, reply: 0 | 2): void {
    this.hello(addr, held && held.state === DEAD ? [JSON.stringify(toTuple(held))] : [], reply);
  }

  /** Our own entry (plus `extra` tuple texts); `reply` as in `tableText`. */
  hello(addr: string, extra: string[] = [], reply: 0 | 1 | 2 = 1): void {
    this.d.out.emit(addr, [tableText(reply, [this.d.self.aliveTupleText(), ...extra])]);
  }

  /**
   * Our full member table, chunked so each packet stays under the size limit. Only the first
   * chunk asks for the peer's table in return: asking in every chunk had the peer send its
   * whole table once per chunk (18 times at 1,000 members).
   */
  sendState(to: string, reply: 0 | 1): void {
    const { self, table, out } = this.d;
    const tuples = [self.tupleText()];
    for (const m of table.byId.values()) tuples.push(JSON.stringify(toTuple(m)));
    const room = this.d.config.maxPacketBytes - self.id.length - 40;
    let chunk: string[] = [];
    let used = 0;
    let ask = reply;
    const flush = () => {
      out.emit(to, [tableText(ask, chunk)]);
      ask = 0;
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

  #nextPushPullAt(): number {
    return (
      this.#lastPushPullAt +
      Math.floor(this.#pushPullJitter * pushPullInterval(this.d.config.pushPullIntervalMs, this.d.table.size()))
    );
  }

  #reconnect(): void {
    const dead = [...this.d.table.byId.values()].filter((m) => m.state === DEAD);
    // A few at a time: after a partition heals, half the cluster is dead to the other half and
    // each member must be told so before it refutes; one per period took a minute at 100 hosts.
    const want = Math.min(16, Math.max(3, Math.ceil(dead.length / 16)));
    for (let k = 0; k < want && dead.length; k++) {
      const d = dead.splice(Math.floor(this.d.random() * dead.length), 1)[0];
      // Tell it that we hold it dead: a live one refutes and answers with its own (newer)
      // entry, and with ours if it holds us dead too, so one round trip heals both directions.
      this.helloTo(d.addr, d, 2);
    }
  }
}
