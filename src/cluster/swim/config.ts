/**
 * SWIM + Lifeguard settings. Defaults follow memberlist's LAN preset except where noted; each
 * field says what moving it trades off.
 */
export interface SwimConfig {
  /** Time between probes of one member. Lower = faster detection, more packets. */
  probeIntervalMs: number;
  /** Wait for a direct ack before asking helpers to probe indirectly. Never scaled by local health. */
  probeTimeoutMs: number;
  /** Helpers asked to probe a member that missed its direct ack. */
  indirectChecks: number;
  /**
   * Direct pings re-sent with the indirect request and again halfway to the probe deadline
   * (only when the first ping went unanswered). 0 = plain SWIM.
   */
  directRetries: number;
  /** Period of dedicated gossip rounds (only sent while broadcasts are queued). */
  gossipIntervalMs: number;
  /** Members picked per gossip round. */
  gossipNodes: number;
  /** Each broadcast is sent retransmitMult × ⌈log10(N+1)⌉ times. */
  retransmitMult: number;
  /**
   * Minimum suspicion = suspicionStallMs + suspicionSpreadMs × max(1, log10 N): the longest
   * stall (SIGSTOP, blocked loop, live migration) a member is forgiven, plus time for its
   * refutation to spread, which grows with log N. memberlist scales the whole minimum with
   * log N (4 × log10 N × 1 s: 8 s at 100, 12 s at 1,000 members); only the spread needs to, and
   * this keeps all-agree detection under 10 s at 1,000 members.
   */
  suspicionStallMs: number;
  suspicionSpreadMs: number;
  /** Independent confirmations that bring the timer down to the minimum (Lifeguard's K). */
  suspicionConfirmations: number;
  /** Maximum suspicion (no confirmations) = this × minimum. */
  suspicionMaxTimeoutMult: number;
  /** Local health score runs 0..awarenessMax-1; the probe interval is multiplied by score+1. */
  awarenessMax: number;
  /** Base period of full membership exchange with one random member (scaled up past 32 nodes). */
  pushPullIntervalMs: number;
  /** Largest packet the core emits (plaintext JSON); the crypto header fits under 1400 B. */
  maxPacketBytes: number;
  /** Bound on queued broadcasts; the most-transmitted ones are dropped first. */
  queueMaxItems: number;
  /**
   * Period of a membership exchange with one random *dead* member, so both sides of a healed
   * partition find each other again (Serf's reconnect). Left members are not retried.
   */
  reconnectIntervalMs: number;
  /** Dead and left members are forgotten after this long. */
  deadReapMs: number;
  /** Event-loop lag above this counts against local health. */
  lagThresholdMs: number;
}

export const DEFAULT_SWIM_CONFIG: SwimConfig = {
  // Half memberlist's LAN interval: a dead member is first probed sooner (p99 ≈ 4.6 intervals
  // at any size), for ≈ 2 kbps more per node.
  probeIntervalMs: 500,
  probeTimeoutMs: 250,
  indirectChecks: 3,
  directRetries: 3,
  gossipIntervalMs: 200,
  gossipNodes: 3,
  retransmitMult: 4,
  suspicionStallMs: 4000,
  suspicionSpreadMs: 500,
  suspicionConfirmations: 2,
  suspicionMaxTimeoutMult: 6,
  awarenessMax: 8,
  pushPullIntervalMs: 60_000,
  maxPacketBytes: 1300,
  queueMaxItems: 1024,
  reconnectIntervalMs: 5_000,
  deadReapMs: 300_000,
  lagThresholdMs: 250,
};

export function swimConfig(over: Partial<SwimConfig> = {}): SwimConfig {
  const c = { ...DEFAULT_SWIM_CONFIG, ...over };
  if (c.probeTimeoutMs >= c.probeIntervalMs) {
    throw new RangeError(
      `Cannot use probeTimeoutMs ${c.probeTimeoutMs}: it must be below probeIntervalMs ${c.probeIntervalMs}`,
    );
  }
  if (c.maxPacketBytes < 256)
    throw new RangeError(`Cannot use maxPacketBytes ${c.maxPacketBytes}: at least 256 needed`);
  return c;
}
