/** Bounded access logs: refused requests are summed per source per interval, answered ones logged one each. */
import { expect, test } from "bun:test";
import { AccessAggregator, type AccessLine } from "../../src/metadata/access-aggregate.ts";
import type { AccessLogEntry } from "../../src/metadata/guards.ts";

const req = (source: string, status: number): AccessLogEntry => ({
  source,
  instance: null,
  method: "GET",
  path: "/latest/meta-data/",
  status,
  micros: 10,
});

test("a flood of refused requests from one VM costs two lines per interval; answered requests one line each", () => {
  let now = 0;
  const a = new AccessAggregator(now, 10_000);
  const lines: AccessLine[] = [];
  // 48 MB of log in 10 s was ~500k lines: here 100k refusals over 10 s from one source.
  for (let i = 0; i < 100_000; i++) {
    now = i / 10;
    lines.push(...a.record(req("10.0.0.3", i % 2 ? 429 : 404), now));
  }
  lines.push(...a.record(req("10.0.0.4", 200), now));
  expect(lines).toHaveLength(2);
  expect(lines[0]).toEqual({ kind: "request", entry: req("10.0.0.3", 404) });
  expect(lines[1]).toEqual({ kind: "request", entry: req("10.0.0.4", 200) });
  now = 10_000;
  expect(a.flush(now)).toEqual([
    {
      kind: "refused",
      summary: { source: "10.0.0.3", count: 99_999, statuses: { 404: 49_999, 429: 50_000 }, instance: null },
    },
  ]);
  // A new interval: the next refusal is logged at once again.
  expect(a.record(req("10.0.0.3", 429), now + 1)).toEqual([{ kind: "request", entry: req("10.0.0.3", 429) }]);
  expect(a.flush(now + 5_000)).toEqual([]);
});

test("the per-source table is bounded: sources beyond it are summed into one line", () => {
  const a = new AccessAggregator(0, 10_000, 3);
  let logged = 0;
  for (let s = 0; s < 1000; s++) logged += a.record(req(`10.0.${s >> 8}.${s & 255}`, 403), 1).length;
  expect(logged).toBe(3);
  const summary = a.flush(10_000);
  expect(summary).toEqual([
    { kind: "refused", summary: { source: "other", count: 997, statuses: { 403: 997 }, instance: null } },
  ]);
});
