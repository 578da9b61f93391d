/**
 * What leaves the core: packets (each filled up with queued gossip), events for the caller,
 * and the counters it exports. The caller drains packets and events after every call.
 */
import type { SwimConfig } from "./config.ts";
import { retransmitLimit } from "./math.ts";
import type { MemberView } from "./members.ts";
import { encodeEnvelope } from "./messages.ts";
import { TransmitQueue } from "./queue.ts";
import type { MemberTable } from "./table.ts";

export type MemberChange = "join" | "alive" | "suspect" | "dead" | "left" | "replaced";
export type SwimEvent =
  /** `was`: the state before an "alive" change (a suspicion refuted, or back from the dead). */
  | { type: "member"; change: MemberChange; member: MemberView; was?: MemberView["state"] }
  /** Persist this before relying on it: a restarted node must not reuse an incarnation. */
  | { type: "incarnation"; value: number }
  | { type: "user"; from: string; addr: string; data: unknown }
  /** A host at `addr` sends with our own id: two hosts share a node name (a cloned image). */
  | { type: "namesake"; addr: string };

/** What the parts that send pings share (prober, relays, suspicion checks); SwimCore builds it once. */
export interface PingDeps {
  config: SwimConfig;
  selfId: string;
  table: MemberTable;
  out: Outbox;
  random: () => number;
  /** Sequence numbers of our pings, one counter for every part. */
  nextSeq: () => number;
}

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

export const newStats = (): SwimStats => ({
  packetsIn: 0,
  packetsOut: 0,
  bytesOut: 0,
  malformed: 0,
  misdirected: 0,
  conflicts: 0,
  refutes: 0,
  oversize: 0,
});

export class Outbox {
  /** Broadcasts waiting to ride on packets, each sent a limited number of times. */
  readonly queue: TransmitQueue;
  /**
   * Our own refutation rides first in every packet for a few sends: after a stall the queue is
   * full of fresher gossip, and a refutation stuck behind it is a false positive.
   */
  urgent: { text: string; left: number } | null = null;
  #packets: Packet[] = [];
  #events: SwimEvent[] = [];

  constructor(
    private readonly from: string,
    private readonly config: SwimConfig,
    private readonly stats: SwimStats,
    /** Cluster size now: broadcasts are sent more times in a larger cluster. */
    private readonly clusterSize: () => number,
  ) {
    this.queue = new TransmitQueue(config.queueMaxItems);
  }

  /** Bytes left for messages in a packet once the envelope is paid for. */
  get room(): number {
    return this.config.maxPacketBytes - this.from.length - 16;
  }

  event(e: SwimEvent): void {
    this.#events.push(e);
  }

  /** Send primary messages, filling the rest of the packet with queued broadcasts. */
  send(to: string, primary: string[]): void {
    let room = this.room;
    for (const p of primary) room -= Buffer.byteLength(p) + 1;
    this.emit(to, room > 0 ? [...primary, ...this.take(room)] : primary);
  }

  /** Queued broadcasts that fit in `room` bytes, our urgent refutation first. */
  take(room: number): string[] {
    const u = this.urgent;
    const limit = retransmitLimit(this.config.retransmitMult, this.clusterSize());
    if (!u || u.text.length + 1 > room) return this.queue.take(room, limit);
    if (--u.left <= 0) this.urgent = null;
    return [u.text, ...this.queue.take(room - u.text.length - 1, limit)];
  }

  /** Send exactly these messages. */
  emit(to: string, parts: string[]): void {
    const data = encodeEnvelope(this.from, parts);
    this.stats.packetsOut++;
    this.stats.bytesOut += data.length;
    this.#packets.push({ to, data });
  }

  drain(): { packets: Packet[]; events: SwimEvent[] } {
    const r = { packets: this.#packets, events: this.#events };
    this.#packets = [];
    this.#events = [];
    return r;
  }
}
