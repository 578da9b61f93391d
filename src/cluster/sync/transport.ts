/** The transport seam of state sync, and sending a message too large for one datagram. */
import { splitPayload } from "./fragments.ts";

export interface SyncTransport {
  sendUser(addr: string, data: unknown): boolean;
  pickLive(k: number): string[];
  addressOf(id: string): string | undefined;
}

/** Sends whole messages, cut into fragments (see `fragments.ts`) when one does not fit. */
export class FragmentingSender {
  readonly #t: SyncTransport;
  /** Largest row that may travel in fragments; the message around it adds up to 1 kB. */
  readonly #maxRowBytes: number;
  readonly #stats: { fragmentsSent: number };
  #seq = 0;

  constructor(t: SyncTransport, maxFragmentedRowBytes: number, stats: { fragmentsSent: number }) {
    this.#t = t;
    this.#maxRowBytes = maxFragmentedRowBytes;
    this.#stats = stats;
  }

  /** Send one message; false when it is too large even for fragments. */
  send(addr: string, msg: unknown, now: number): boolean {
    if (this.#t.sendUser(addr, msg)) return true;
    const text = JSON.stringify(msg);
    if (text.length > this.#maxRowBytes + 1024) return false;
    // 400 characters: even all quotes (escaped to 2 bytes) stay under the datagram limit.
    const parts = splitPayload(`${now.toString(36)}.${++this.#seq}`, text, 400);
    for (const f of parts) this.#t.sendUser(addr, f);
    this.#stats.fragmentsSent += parts.length;
    return true;
  }
}
