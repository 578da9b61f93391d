/** Pure timing formulas of SWIM + Lifeguard, kept apart so each is tested on its own. */

/** Minimum suspicion time: the forgiven stall plus a refutation spread allowance × max(1, log10 n). */
export function suspicionTimeout(stallMs: number, spreadMs: number, n: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)));
  return Math.floor(stallMs + spreadMs * nodeScale);
}

/**
 * Lifeguard dynamic suspicion: the timeout starts at `max` and falls towards `min` as
 * independent confirmations `c` arrive, reaching `min` at `k` confirmations. Returns the time
 * left after `elapsed` (may be negative).
 */
export function remainingSuspicion(c: number, k: number, elapsed: number, min: number, max: number): number {
  const frac = k < 1 ? 1 : Math.log(c + 1) / Math.log(k + 1);
  const timeout = Math.max(min, Math.floor(max - frac * (max - min)));
  return timeout - elapsed;
}

/** Confirmations wanted before the minimum applies; none in clusters too small to supply them. */
export function suspicionConfirmations(k: number, n: number): number {
  return n - 2 < k ? 0 : k;
}

/** How many times one broadcast is sent: mult × ⌈log10(n+1)⌉. */
export function retransmitLimit(mult: number, n: number): number {
  return mult * Math.ceil(Math.log10(n + 1));
}

/** Lifeguard local health: an unhealthy node probes less often (score 0 = base interval). */
export function scaledProbeInterval(baseMs: number, awareness: number): number {
  return baseMs * (awareness + 1);
}

/** Full-state exchange period grows with cluster size past 32 nodes, as memberlist does. */
export function pushPullInterval(baseMs: number, n: number): number {
  if (n <= 32) return baseMs;
  return baseMs * (Math.ceil(Math.log2(n) - Math.log2(32)) + 1);
}
