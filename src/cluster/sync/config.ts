/** Settings and counters of state sync (see `engine.ts` for how the paths fit together). */

export interface SyncConfig {
  /**
   * Fresh deltas are pushed to random peers in batches this often (while there are any).
   * They travel in packets of their own, under their own byte budget, so the write load
   * neither rides on nor crowds out membership traffic.
   */
  pushIntervalMs: number;
  /** Peers sent a batch per push round. */
  pushPeers: number;
  /** Times one node sends one delta (to different peers); repair closes what push misses. */
  pushFanout: number;
  /** Bytes of pushed deltas per second (token bucket, burst a quarter of it). */
  pushBytesPerSec: number;
  /** Deltas waiting to be pushed, at most; the most-sent, oldest one is dropped first. */
  pushMaxItems: number;
  /** A delta queued longer than this is no longer pushed: most peers have it, repair does the rest. */
  pushMaxAgeMs: number;
  digestIntervalMs: number;
  /** Bytes of marks a busy digest round sends at most (whole buckets, at least one). */
  directMarksBytes: number;
  /**
   * Digest period while we recently saw a difference (a write burst): repair rounds come
   * faster exactly when there is something to repair, and idle clusters stay cheap.
   */
  busyDigestIntervalMs: number;
  /** Differences younger than this are left to gossip. */
  settleMs: number;
  buckets: number;
  /** Bytes of rows per page packet (kept under the membership packet limit). */
  pageBytes: number;
  /**
   * Largest row (wire form) that is replicated; it then travels alone in its packet. Larger
   * ones would not fit a datagram: counted as oversize and skipped.
   */
  maxRowBytes: number;
  /**
   * Rows above maxRowBytes and up to this size travel alone in a repair page cut into
   * datagram-sized fragments (an RSA-8192 key, a long rule description); larger ones are
   * counted as oversize and not replicated.
   */
  maxFragmentedRowBytes: number;
  /** Origins served per request; the rest wait for the next digest round. */
  originsPerRequest: number;
  /**
   * Bytes of repair pages served per second (token bucket, burst `repairBurstBytes`). Bounds
   * the bandwidth of digest-driven repair under heavy write load; the page-after-page stream
   * a joining node asks for is not limited here (it is paced by its own round trips).
   */
  repairBytesPerSec: number;
  repairBurstBytes: number;
  tombstoneGraceMs: number;
  gcIntervalMs: number;
  /**
   * An origin we asked one peer for is not asked of another for this long (unless the stream
   * ends first), so two peers do not send us the same rows.
   */
  streamHoldMs: number;
  /** Out-of-order delta links kept while waiting for a gap to fill. */
  maxPending: number;
  marksSaveIntervalMs: number;
  /**
   * The state directory is new (wiped or rebuilt host): rows of our own origin that peers hold
   * must be pulled back. Our own mark then starts empty and local writes do not advance it
   * until a peer has streamed our origin to us, so digests see that we lack it.
   */
  recoverOwnRows: boolean;
}

export const DEFAULT_SYNC_CONFIG: SyncConfig = {
  pushIntervalMs: 100,
  pushPeers: 3,
  pushFanout: 12,
  pushBytesPerSec: 10_000,
  pushMaxItems: 512,
  pushMaxAgeMs: 2000,
  digestIntervalMs: 1000,
  busyDigestIntervalMs: 250,
  directMarksBytes: 3000,
  settleMs: 300,
  buckets: 16,
  pageBytes: 1000,
  maxRowBytes: 1100,
  maxFragmentedRowBytes: 32_768,
  originsPerRequest: 64,
  repairBytesPerSec: 24_000,
  repairBurstBytes: 48_000,
  tombstoneGraceMs: 24 * 3600_000,
  gcIntervalMs: 60_000,
  streamHoldMs: 100,
  maxPending: 4096,
  marksSaveIntervalMs: 1000,
  recoverOwnRows: false,
};

export interface SyncStats {
  applied: number;
  stale: number;
  quarantined: number;
  future: number;
  oversize: number;
  fragmentsSent: number;
  resets: number;
  digests: number;
  mismatches: number;
  pagesSent: number;
  /** Rows received in repair pages, and how many of those we already held. */
  pageRows: number;
  pageStale: number;
  malformed: number;
}

export const newSyncStats = (): SyncStats => ({
  applied: 0,
  stale: 0,
  quarantined: 0,
  future: 0,
  oversize: 0,
  fragmentsSent: 0,
  resets: 0,
  digests: 0,
  mismatches: 0,
  pagesSent: 0,
  pageRows: 0,
  pageStale: 0,
  malformed: 0,
});
