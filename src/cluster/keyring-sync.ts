/**
 * Cluster-wide key rotation (`netlet cluster key install|use|remove|list`). A key operation on
 * any node produces a versioned keyring document that is gossiped (inside encrypted packets,
 * the same trust as the keys themselves); a newer document is adopted whole. A node that was
 * offline during a rotation still speaks the old key: peers accept it during the grace window,
 * answer on that key, and send it the current document, so it switches without manual steps.
 */
import * as v from "valibot";
import type { HlcClock } from "../replication/hlc.ts";
import type { Keyring } from "./keyring.ts";
import type { Layer } from "./node.ts";

const key = v.pipe(v.string(), v.length(44));
const Doc = v.object({
  k: v.literal("keyring"),
  v: v.pipe(v.string(), v.regex(/^\d{15}\.\d{5}$/)),
  primary: key,
  keys: v.pipe(v.array(key), v.maxLength(16)),
  removed: v.pipe(v.array(key), v.maxLength(64)),
});
export type KeyringDoc = v.InferOutput<typeof Doc>;

export interface KeyringPeers {
  broadcast(key: string, data: unknown): void;
  sendUser(addr: string, data: unknown): boolean;
}

export class KeyringLayer implements Layer {
  #version = "";
  #removed: string[] = [];
  readonly #offered = new Map<string, number>();
  readonly stats = { adopted: 0, rejected: 0, offered: 0 };
  peers: KeyringPeers = { broadcast: () => {}, sendUser: () => false };

  constructor(
    readonly keyring: Keyring,
    readonly clock: HlcClock,
    /** Persist the keyring (mode 0600) whenever it changes. */
    readonly onChange: () => void = () => {},
  ) {}

  /** Wire to the membership layer once the node exists (the shell does this). */
  attach(peers: KeyringPeers): void {
    this.peers = peers;
  }

  install(b64: string): void {
    this.keyring.install(b64);
    this.#publish();
  }

  use(b64: string): void {
    this.keyring.use(b64);
    this.#publish();
  }

  remove(b64: string, now: number): void {
    this.keyring.remove(b64, now);
    this.#removed = [...new Set([...this.#removed, b64])].slice(-64);
    this.#publish();
  }

  list() {
    return this.keyring.list();
  }

  doc(): KeyringDoc {
    const live = this.keyring.list().filter((k) => k.retireAt === null);
    return {
      k: "keyring",
      v: this.#version || "000000000000000.00000",
      primary: this.keyring.primary().key.toString("base64"),
      keys: live.map((k) => k.key),
      removed: this.#removed,
    };
  }

  /** A peer at `addr` spoke a non-primary key: send it our document (at most once a second). */
  offer(addr: string, now: number): void {
    if ((this.#offered.get(addr) ?? -Infinity) > now - 1000 || !this.#version) return;
    if (this.#offered.size > 4096) this.#offered.clear();
    this.#offered.set(addr, now);
    this.stats.offered++;
    this.peers.sendUser(addr, this.doc());
  }

  handle(_from: string, _addr: string, data: unknown, now: number): boolean {
    if (typeof data !== "object" || data === null || (data as { k?: unknown }).k !== "keyring") return false;
    const r = v.safeParse(Doc, data);
    if (!r.success) {
      this.stats.rejected++;
      return true;
    }
    if (r.output.v > this.#version) this.#adopt(r.output, now);
    return true;
  }

  tick(now: number): void {
    this.keyring.expire(now);
  }

  nextDeadline(): number {
    return Infinity;
  }

  #adopt(d: KeyringDoc, now: number): void {
    try {
      for (const k of d.keys) this.keyring.install(k);
      this.keyring.use(d.primary);
      for (const k of d.removed)
        if (k !== d.primary && this.keyring.list().some((x) => x.key === k)) this.keyring.remove(k, now);
    } catch {
      this.stats.rejected++;
      return;
    }
    this.#version = d.v;
    this.#removed = d.removed;
    this.clock.observe(d.v);
    this.stats.adopted++;
    this.onChange();
    this.peers.broadcast("keyring", d);
  }

  #publish(): void {
    this.#version = this.clock.tick();
    this.onChange();
    this.peers.broadcast("keyring", this.doc());
  }
}
