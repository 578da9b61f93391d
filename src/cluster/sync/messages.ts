/**
 * State-sync protocol messages, carried as opaque payloads by the membership layer. Shapes are
 * checked with valibot; rows inside are validated separately (schema.ts) so one bad row is
 * quarantined without dropping its neighbours.
 */
import * as v from "valibot";
import { hlcFromWire, rebaseHlc } from "./schema.ts";

/** Held versions listed per origin in a marks message. */
export const MAX_HELD = 16;

const origin = v.pipe(v.string(), v.minLength(1), v.maxLength(128));
/** A version in wire form (see `hlcToWire`), read back into its canonical, sortable form. */
const mark = v.pipe(
  v.string(),
  v.maxLength(21),
  v.check((s) => hlcFromWire(s) !== null, "not a version"),
  v.transform((s) => hlcFromWire(s) as string),
);
/**
 * Versions the sender already holds beyond its mark (rows that arrived out of order), so the
 * side serving it skips them.
 */
const held = v.pipe(v.array(mark), v.maxLength(MAX_HELD));
const bucket = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(255));
const u32 = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffff_ffff));

/** Rows of origin `o` after `f`, complete up to `u` (held rows skipped); `m` = 1 when more follow. */
const Segment = v.object({
  o: origin,
  f: mark,
  u: mark,
  m: v.picklist([0, 1]),
  rows: v.pipe(v.array(v.unknown()), v.maxLength(256)),
});
export type Segment = v.InferOutput<typeof Segment>;

export const SyncMsg = v.variant("s", [
  /** A delta: one row plus the origin's previous version, so receivers can tell a gap. */
  v.object({ s: v.literal("d"), r: v.unknown(), p: mark }),
  /** A batch of deltas pushed to one peer: [row, previous version of its origin]. */
  v.object({ s: v.literal("e"), d: v.pipe(v.array(v.tuple([v.unknown(), mark])), v.minLength(1), v.maxLength(64)) }),
  /** Digest: total hash of marks capped at cutoff `c` (ms). */
  // q: the sender has not matched any peer yet and asks to hear of a match (see DigestExchange).
  v.object({ s: v.literal("g"), c: v.number(), h: u32, q: v.optional(v.literal(1)) }),
  /** Per-bucket hashes, sent back on a digest mismatch. */
  v.object({ s: v.literal("b"), c: v.number(), h: v.pipe(v.array(u32), v.maxLength(256)) }),
  /**
   * Marks for whole buckets `bk` (origins of those buckets not listed are unknown to the
   * sender) or, with `bk` empty, for the listed origins only. `q` = 1 asks for our marks back.
   */
  v.object({
    s: v.literal("w"),
    bk: v.pipe(v.array(bucket), v.maxLength(256)),
    w: v.pipe(v.array(v.union([v.strictTuple([origin, mark]), v.strictTuple([origin, mark, held])])), v.maxLength(512)),
    q: v.picklist([0, 1]),
    /** Milliseconds the versions in `w` are relative to (they are then short). */
    b: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(10 ** 15 - 1))),
    /** 1 = continuation of a page stream (a joining node pulling page after page). */
    c: v.optional(v.picklist([0, 1])),
    /**
     * When the marks of `bk` span several messages (ordered by bucket, then origin), this one
     * covers [lo, hi): only origins in that range that are not listed are unknown to the sender.
     */
    lo: v.optional(v.tuple([bucket, origin])),
    hi: v.optional(v.tuple([bucket, origin])),
    /** Indices into `w` of origins the sender is already streaming from someone else: do not serve. */
    sk: v.optional(v.pipe(v.array(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(511))), v.maxLength(512))),
  }),
  /** A page: segments of rows of several origins (see `Segment`). */
  v.object({ s: v.literal("r"), g: v.pipe(v.array(Segment), v.minLength(1), v.maxLength(64)) }),
  /** Your mark for `o` predates our tombstone collection: drop that origin and pull it whole. */
  v.object({ s: v.literal("x"), o: origin }),
]);
export type SyncMsg = v.InferOutput<typeof SyncMsg>;

export function parseSyncMsg(data: unknown): SyncMsg | null {
  const r = v.safeParse(SyncMsg, data);
  if (!r.success) return null;
  const m = r.output;
  return m.s === "w" && m.b ? rebaseMarks(m, m.b) : m;
}

/** Versions of a marks message back from relative to absolute; null if one overflows. */
function rebaseMarks(m: Extract<SyncMsg, { s: "w" }>, base: number): SyncMsg | null {
  const w: typeof m.w = [];
  for (const e of m.w) {
    const mark = rebaseHlc(e[1], base);
    const held = e.length === 3 ? e[2].map((h) => rebaseHlc(h, base)) : [];
    if (mark === null || held.some((h) => h === null)) return null;
    w.push(e.length === 3 ? [e[0], mark, held as string[]] : [e[0], mark]);
  }
  return { ...m, w };
}

/** Cheap pre-check: payloads of other layers (IPAM) are not sync messages. */
export const isSyncPayload = (data: unknown): boolean =>
  typeof data === "object" && data !== null && typeof (data as { s?: unknown }).s === "string";
