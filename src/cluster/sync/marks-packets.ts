/**
 * Marks messages cut into packets under the page size. Versions travel relative to the oldest
 * one listed (a few base-36 digits each). When a message covers whole buckets, its entries
 * come sorted by (bucket, origin) and each packet says which range of that order it covers,
 * so the receiver knows which of its own origins the sender lacks.
 */
import { bucketOf } from "./digest.ts";
import type { MarkEntry } from "./marks.ts";
import type { SyncMsg } from "./messages.ts";
import { hlcToWire } from "./schema.ts";
import type { SyncTransport } from "./transport.ts";

export type MarksMsg = Extract<SyncMsg, { s: "w" }>;

/** (bucket, origin): the order of marks in a message that covers whole buckets. */
export type Pos = [number, string];
export const cmpPos = (a: Pos, b: Pos): number => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);
export const posOf = (o: string, buckets: number): Pos => [bucketOf(o, buckets), o];

export interface MarksLayout {
  pageBytes: number;
  buckets: number;
}

/**
 * The packets of one marks message: `head` with the `canonical` entries (sorted by `posOf`
 * when `head.bk` lists buckets). Entries for which `skip` holds are flagged as not to be
 * served; `skip` is called once per entry, in order.
 */
export function marksPackets(
  head: MarksMsg,
  canonical: MarkEntry[],
  layout: MarksLayout,
  skip?: (o: string) => boolean,
): MarksMsg[] {
  const base = oldestMs(canonical);
  const rel = (h: string) => (h ? hlcToWire(h, base) : "");
  const entries = canonical.map(
    (e): MarkEntry => (e.length === 3 ? [e[0], rel(e[1]), e[2].map(rel)] : [e[0], rel(e[1])]),
  );
  if (base) head = { ...head, b: base };
  const parts = splitEntries(entries, layout.pageBytes, skip);
  const out: MarksMsg[] = [];
  parts.forEach((p, i) => {
    if (!p.w.length && head.q === 0) return;
    const msg: MarksMsg = { ...head, w: p.w };
    if (p.sk.length) msg.sk = p.sk;
    if (head.bk.length && i > 0) msg.lo = posOf(p.w[0][0], layout.buckets);
    if (head.bk.length && i < parts.length - 1) msg.hi = posOf(parts[i + 1].w[0][0], layout.buckets);
    out.push(msg);
  });
  return out;
}

/** Milliseconds of the oldest version listed; 0 when none is. */
function oldestMs(canonical: MarkEntry[]): number {
  let base = Infinity;
  for (const e of canonical) {
    if (e[1]) base = Math.min(base, hlcMs(e[1]));
    if (e.length === 3) for (const h of e[2]) base = Math.min(base, hlcMs(h));
  }
  return base === Infinity ? 0 : base;
}

const hlcMs = (h: string): number => Number(h.slice(0, h.indexOf(".")));

/** Entries in runs of at most `pageBytes` (and 512 entries), each with its skipped indexes. */
function splitEntries(
  entries: MarkEntry[],
  pageBytes: number,
  skip?: (o: string) => boolean,
): { w: MarkEntry[]; sk: number[] }[] {
  const parts: { w: MarkEntry[]; sk: number[] }[] = [{ w: [], sk: [] }];
  let bytes = 0;
  for (const e of entries) {
    const size = JSON.stringify(e).length + 4;
    let part = parts[parts.length - 1];
    if (part.w.length && (bytes + size > pageBytes || part.w.length >= 512)) {
      parts.push((part = { w: [], sk: [] }));
      bytes = 0;
    }
    if (skip?.(e[0])) part.sk.push(part.w.length);
    part.w.push(e);
    bytes += size;
  }
  return parts;
}

/** Send the packets of one marks message (see `marksPackets`). */
export function sendMarks(
  t: SyncTransport,
  addr: string,
  head: MarksMsg,
  canonical: MarkEntry[],
  layout: MarksLayout,
  skip?: (o: string) => boolean,
): void {
  for (const msg of marksPackets(head, canonical, layout, skip)) t.sendUser(addr, msg);
}
