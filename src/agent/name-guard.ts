/**
 * Node-name conflicts in a cluster (a cloned image keeps the hostname): a host that sends under
 * our node name is a namesake. A newcomer (joining, no live peer yet) that meets one refuses to
 * join, so the cluster keeps its member; a host already in the cluster keeps running and raises
 * the alarm. At start-up a joining host waits until it knows which it is.
 */
import type { Logger } from "../log.ts";
import type { Clock } from "../util/clock.ts";

/** How long a joining host waits at start-up to learn whether its node name is taken. */
export const NAME_CHECK_MS = 3_000;

export interface NameGuardOptions {
  /** This host's node name. */
  id: string;
  clock: Clock;
  log: Logger;
  /** True while this host joins and has no live peer yet. */
  isNewcomer: () => boolean;
  /** Called once when this host refuses to join (stop gossiping). */
  onRefuse: () => void;
}

function namesakeText(id: string, addr: string, refused: boolean): string {
  return refused
    ? `another host at ${addr} already uses the node name ${id}: this host refused to join; give it a unique name (host = … in netlet.conf) and restart`
    : `the host at ${addr} also uses this node name ${id} (a cloned image?): one of them needs another name (host = … in netlet.conf)`;
}

export class NameGuard {
  readonly #o: NameGuardOptions;
  /** Namesakes by address, with when each was last heard. */
  readonly #namesakes = new Map<string, number>();
  #refused: string | null = null;
  /** Ends the start-up wait; set while `check` waits. */
  #wake: (() => void) | null = null;

  constructor(o: NameGuardOptions) {
    this.#o = o;
  }

  /** Why this host refused to join, or null. */
  get refused(): string | null {
    return this.#refused;
  }

  /** A host at `addr` sends under our node name. */
  seen(addr: string): void {
    this.#namesakes.set(addr, this.#o.clock.now());
    if (this.#refused === null && this.#o.isNewcomer()) {
      this.#refused = namesakeText(this.#o.id, addr, true);
      this.#o.log.error("node name conflict: not joining", { name: this.#o.id, other: addr });
      this.#o.onRefuse();
    } else this.#o.log.error("node name conflict", { name: this.#o.id, other: addr });
    this.#poke();
  }

  /** Membership changed: a live peer ends the start-up wait. */
  membership(): void {
    this.#poke();
  }

  /**
   * Wait until a live peer is seen, a namesake makes this host refuse, or `ms` pass, whichever
   * comes first; resolves with the refusal (null: the name is this host's to use).
   */
  async check(ms = NAME_CHECK_MS): Promise<string | null> {
    if (!this.#settled()) {
      await new Promise<void>((resolve) => {
        const cancel = this.#o.clock.setTimer(ms, () => done());
        const done = () => {
          cancel();
          this.#wake = null;
          resolve();
        };
        this.#wake = done;
      });
    }
    return this.#refused;
  }

  alarms(): string[] {
    if (this.#refused !== null) return [`cluster.node_name: ${this.#refused}`];
    return [...this.#namesakes.keys()].map((a) => `cluster.node_name: ${namesakeText(this.#o.id, a, false)}`);
  }

  namesakes(): { addr: string; since: number }[] {
    return [...this.#namesakes].map(([addr, since]) => ({ addr, since }));
  }

  #settled(): boolean {
    return this.#refused !== null || !this.#o.isNewcomer();
  }

  #poke(): void {
    if (this.#wake && this.#settled()) this.#wake();
  }
}
