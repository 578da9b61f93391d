/**
 * Durability that matches the promises: IPAM votes and block grants reach the disk (fsync)
 * before the call returns, i.e. before the answer that relies on them leaves; ordinary rows
 * keep synchronous = NORMAL (no fsync per commit). Counted with strace on a real writer.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memStore } from "./fixtures.ts";

const WRITER = join(import.meta.dir, "durable-writer.ts");
const dir = mkdtempSync(join(tmpdir(), "netlet-durable-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function syncs(kind: string, n: number): number {
  const d = mkdtempSync(join(dir, `${kind}-`));
  const r = Bun.spawnSync(
    ["strace", "-f", "-qq", "-c", "-e", "trace=fsync,fdatasync", process.execPath, WRITER, d, kind, String(n)],
    { stdout: "pipe", stderr: "pipe" },
  );
  const text = r.stderr.toString();
  if (r.exitCode !== 0) throw new Error(`writer failed: ${text}`);
  return text
    .split("\n")
    .filter((l) => /\s(fsync|fdatasync)$/.test(l))
    .reduce((sum, l) => sum + Number(l.trim().split(/\s+/)[3]), 0);
}

test("votes and block grants are synced per commit; ordinary rows are not", () => {
  const base = syncs("plain", 0);
  expect(syncs("plain", 40)).toBeLessThan(base + 5);
  expect(syncs("promise", 40)).toBeGreaterThanOrEqual(base + 40);
  expect(syncs("slot", 40)).toBeGreaterThanOrEqual(base + 40);
}, 30000);

test("a durable write inside another write syncs once the outer one commits; synchronous returns to NORMAL", () => {
  const s = memStore();
  s.write(() => {
    s.durable(() => s.setMeta("a", "1"));
    expect(s.durableCommits).toBe(0); // not yet: the outer transaction has not committed
  });
  expect(s.durableCommits).toBe(1);
  s.durable(() => s.setMeta("b", "2"));
  expect(s.durableCommits).toBe(2);
  expect(s.db.query<{ synchronous: number }, []>("PRAGMA synchronous").get()!.synchronous).toBe(1);
});
