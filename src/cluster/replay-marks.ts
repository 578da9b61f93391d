/**
 * The gossip replay window across restarts. Receivers keep per-sender windows in memory; a
 * restarted receiver would otherwise accept every datagram captured before the restart. The
 * high-water marks are saved in the store's local meta table (every few seconds and at stop)
 * and restored at start. This host's own nonce epoch is saved too, so that after a restart it
 * never goes below what peers have seen, even if the clock went back.
 */
import type { HighWater, PacketCrypto } from "./crypto.ts";

/** The part of the store used here: its local (not replicated) key-value meta table. */
export interface MetaStore {
  getMeta(key: string): string | null;
  setMeta(key: string, value: string): void;
}

const MARKS_KEY = "cluster_replay_marks";
const EPOCH_KEY = "cluster_epoch";

export function loadMarks(store: MetaStore): HighWater[] {
  try {
    const v = JSON.parse(store.getMeta(MARKS_KEY) ?? "[]");
    return Array.isArray(v)
      ? v.filter(
          (m) =>
            typeof m?.sender === "string" &&
            Number.isFinite(m.generation) &&
            Number.isFinite(m.epoch) &&
            Number.isFinite(m.top),
        )
      : [];
  } catch {
    return [];
  }
}

export function saveMarks(store: MetaStore, crypto: PacketCrypto): void {
  store.setMeta(MARKS_KEY, JSON.stringify(crypto.marks()));
}

/** The nonce epoch to start with: above every epoch used before, whatever the clock says. */
export function bootEpoch(store: MetaStore, nowMs: number): number {
  const last = Number(store.getMeta(EPOCH_KEY) ?? 0);
  const epoch = Math.max(nowMs, last + 1);
  store.setMeta(EPOCH_KEY, String(epoch));
  return epoch;
}
