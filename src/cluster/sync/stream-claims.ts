/**
 * Which peer streams each origin to us. An origin asked of one peer is not asked of another
 * for `holdMs` (unless the stream ends first), so two peers do not send us the same rows.
 */
export class StreamClaims {
  readonly #holdMs: number;
  readonly #streams = new Map<string, { addr: string; until: number }>();

  constructor(holdMs: number) {
    this.#holdMs = holdMs;
  }

  /** Take origin `o` as streamed from `addr`; false when another peer is streaming it. */
  claim(o: string, addr: string, now: number): boolean {
    const s = this.#streams.get(o);
    if (s && s.addr !== addr && s.until > now) return false;
    this.#streams.set(o, { addr, until: now + this.#holdMs });
    return true;
  }

  /** The stream of `o` from `addr` ended. */
  release(o: string, addr: string): void {
    if (this.#streams.get(o)?.addr === addr) this.#streams.delete(o);
  }

  /** Forget claims that ran out (keeps the map bounded by the origins in flight). */
  expire(now: number): void {
    for (const [o, s] of this.#streams) if (s.until <= now) this.#streams.delete(o);
  }
}
