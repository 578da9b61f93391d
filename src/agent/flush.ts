/**
 * `netlet dataplane flush` on this host: holds the state directory's lock (refused while an
 * agent runs: it would program everything again) and hands the dataplane the record of the
 * links netlet made, from the store.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { spawnExec } from "../sys/exec.ts";
import { type FlushReport, flushDataplane } from "../dataplane/flush.ts";
import { Store } from "../store/db.ts";
import { lockStateDir } from "../sys/agent-lock.ts";
import { ownedStore } from "./dataplane.ts";

export async function flushHost(statePath: string, say: (line: string) => void): Promise<FlushReport> {
  const lock = lockStateDir(statePath);
  const dbPath = join(statePath, "netlet.db");
  const store = existsSync(dbPath) ? new Store(dbPath, { nodeId: "flush" }) : null;
  try {
    return await flushDataplane(store ? ownedStore(store) : null, spawnExec(), say);
  } finally {
    store?.close();
    lock.release();
  }
}
