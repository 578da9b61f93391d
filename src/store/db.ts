/**
 * The SQLite store: the one source of truth. Writes happen inside `store.write(fn)`, a single
 * IMMEDIATE transaction; the change events that `fn` records are delivered to subscribers only
 * after the commit succeeds, so a rejected command changes nothing and tells nobody.
 */
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { ChangeEvent, Entity } from "../model.ts";
import { createLogger, type Logger } from "../log.ts";
import { HlcClock } from "../replication/hlc.ts";
import { MIGRATIONS } from "./schema.ts";

export type ChangeListener = (events: readonly ChangeEvent[]) => void;

export interface StoreOptions {
  /** This node's id: the origin of every row it writes. */
  nodeId: string;
  now?: () => number;
  /** Where a failing change listener is reported. */
  log?: Logger;
}

export class Store {
  readonly db: Database;
  readonly nodeId: string;
  readonly clock: HlcClock;
  readonly now: () => number;
  readonly #log: Logger;
  readonly #listeners = new Set<ChangeListener>();
  #pending: ChangeEvent[] | null = null;
  #commits = 0;
  /** A durable write ran inside the current transaction: sync once it commits. */
  #syncAfterCommit = false;
  /** Commits synced to disk on request (see durable()), for the metrics. */
  durableCommits = 0;

  constructor(path: string, opts: StoreOptions) {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path, { create: true, strict: true });
    this.nodeId = opts.nodeId;
    this.now = opts.now ?? Date.now;
    this.#log = opts.log ?? createLogger({ base: { component: "store" } });
    this.clock = new HlcClock(this.now);
    this.db.exec("PRAGMA journal_mode = WAL");
    // NORMAL in WAL mode survives a process crash; FULL adds power-loss durability per commit.
    this.db.exec("PRAGMA synchronous = NORMAL");
    this.db.exec("PRAGMA foreign_keys = ON");
    this.db.exec("PRAGMA busy_timeout = 5000");
    this.#migrate();
  }

  #migrate(): void {
    const row = this.db.query<{ user_version: number }, []>("PRAGMA user_version").get();
    const current = row?.user_version ?? 0;
    for (let i = current; i < MIGRATIONS.length; i++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[i]);
        this.db.exec(`PRAGMA user_version = ${i + 1}`);
      })();
    }
  }

  /** How many transactions with changes have committed: a reader that saw N has seen them all. */
  get commits(): number {
    return this.#commits;
  }

  /** Subscribe to committed changes; returns the unsubscribe function. */
  subscribe(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Run `fn` in one IMMEDIATE transaction. Events recorded with `changed()` are emitted after
   * the commit; if `fn` throws, the transaction rolls back and nothing is emitted.
   */
  write<T>(fn: () => T, opts: { remote?: boolean } = {}): T {
    if (this.#pending) return fn(); // nested: part of the outer transaction
    this.#pending = [];
    let events: ChangeEvent[];
    let result: T;
    try {
      result = this.db.transaction(fn).immediate();
      events = this.#pending.map((e) => ({ ...e, remote: opts.remote ?? false }));
    } finally {
      this.#pending = null;
    }
    if (this.#syncAfterCommit) {
      this.#syncAfterCommit = false;
      // A checkpoint syncs the WAL (our commit included) before it copies anything.
      this.db.exec("PRAGMA wal_checkpoint(PASSIVE)");
      this.durableCommits++;
    }
    if (events.length) {
      this.#commits += 1;
      this.#emit(events);
    }
    return result;
  }

  /**
   * `write(fn)` whose commit is on disk when it returns, not only in the OS's cache: for the
   * rows whose loss after a power cut could break uniqueness (IPAM votes and promises, block
   * grants, address and floating-IP ownership), which peers rely on as soon as we answer.
   * synchronous = NORMAL (the default, fast) survives a crash of the process, not of the host.
   */
  durable<T>(fn: () => T): T {
    if (this.#pending) {
      this.#syncAfterCommit = true; // the outer write syncs when it commits
      return fn();
    }
    this.db.exec("PRAGMA synchronous = FULL");
    try {
      const r = this.write(fn);
      this.durableCommits++;
      return r;
    } finally {
      this.db.exec("PRAGMA synchronous = NORMAL");
    }
  }

  /** Record a change inside `write()`. */
  changed(entity: Entity, op: "put" | "delete", key: string): void {
    if (!this.#pending) throw new Error(`Cannot record a ${entity} change outside store.write()`);
    this.#pending.push({ entity, op, key, remote: false });
  }

  /** A fresh version stamp for a row this node writes. */
  version(): { origin: string; hlc: string } {
    return { origin: this.nodeId, hlc: this.clock.tick() };
  }

  #emit(events: ChangeEvent[]): void {
    for (const l of this.#listeners) {
      try {
        l(events);
      } catch (err) {
        // A failing reconciler must not break the writer or the other reconcilers.
        this.#log.error("change listener failed", { err: String(err) });
      }
    }
  }

  getMeta(key: string): string | null {
    return this.db.query<{ value: string }, [string]>("SELECT value FROM meta WHERE key = ?").get(key)?.value ?? null;
  }

  setMeta(key: string, value: string): void {
    this.db
      .query("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
      .run(key, value);
  }

  close(): void {
    this.db.close();
  }
}
