import { describe, expect, test } from "bun:test";
import { mulberry32 } from "../../src/cluster/sim/prng.ts";
import {
  type FragmentMsg,
  MAX_PARTS,
  MAX_REASSEMBLED_CHARS,
  Reassembler,
  isFragment,
  splitPayload,
} from "../../src/cluster/sync/fragments.ts";

/** Fragments as a peer receives them: through the transport's JSON encoding. */
const wire = (fs: FragmentMsg[]): FragmentMsg[] => fs.map((f) => JSON.parse(JSON.stringify({ t: "u", d: f })).d);

function feed(r: Reassembler, from: string, fs: FragmentMsg[], now = 0): string[] {
  const out: string[] = [];
  for (const f of fs) {
    const t = r.add(from, f, now);
    if (t !== null) out.push(t);
  }
  return out;
}

function shuffle<T>(a: T[], rnd: () => number): T[] {
  const b = [...a];
  for (let i = b.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [b[i], b[j]] = [b[j], b[i]];
  }
  return b;
}

const textOf = (len: number): string =>
  JSON.stringify({ k: "x".repeat(Math.max(0, len - 8)) })
    .slice(0, len)
    .padEnd(len, " ");

describe("splitPayload", () => {
  test("round trip at 1 char, one chunk, many chunks and 64 KiB", () => {
    for (const len of [1, 200, 1000, 1001, 5000, MAX_REASSEMBLED_CHARS]) {
      const text = textOf(len);
      const fs = splitPayload("o1@42", text, 1000);
      expect(fs.length).toBe(Math.ceil(len / 1000));
      for (const f of fs) expect(isFragment(f)).toBe(true);
      const r = new Reassembler();
      expect(feed(r, "a", wire(fs))).toEqual([text]);
      expect(r.stats.completed).toBe(1);
      expect(r.inFlight).toBe(0);
      expect(r.bufferedChars).toBe(0);
    }
  });

  test("64 KiB at the smallest chunk stays within the part limit", () => {
    const fs = splitPayload("i", textOf(MAX_REASSEMBLED_CHARS), 200);
    expect(fs.length).toBe(MAX_PARTS);
    expect(fs.every(isFragment)).toBe(true);
  });

  test("a surrogate pair cut across two parts is whole after the JSON wire", () => {
    const text = `${"a".repeat(199)}😀${"b".repeat(300)}`;
    const fs = splitPayload("i", text, 200);
    expect(fs[0].d.endsWith("\ud83d")).toBe(true);
    expect(feed(new Reassembler(), "a", wire(fs))).toEqual([text]);
  });

  test("refuses oversize text, bad chunk sizes and bad ids", () => {
    expect(() => splitPayload("i", "x".repeat(MAX_REASSEMBLED_CHARS + 1), 1000)).toThrow(RangeError);
    expect(() => splitPayload("i", "x", 199)).toThrow(RangeError);
    expect(() => splitPayload("i", "x", 2001)).toThrow(RangeError);
    expect(() => splitPayload("i", "x", 500.5)).toThrow(RangeError);
    expect(() => splitPayload("", "x", 500)).toThrow(RangeError);
    expect(() => splitPayload("i".repeat(201), "x", 500)).toThrow(RangeError);
  });
});

describe("isFragment", () => {
  const ok: FragmentMsg = { s: "f", id: "i", n: 0, of: 2, d: "x" };
  test("accepts a well-formed fragment and rejects each bad field", () => {
    expect(isFragment(ok)).toBe(true);
    for (const bad of [
      null,
      3,
      "f",
      [],
      {},
      { ...ok, s: "x" },
      { ...ok, id: "" },
      { ...ok, id: "i".repeat(201) },
      { ...ok, id: 7 },
      { ...ok, n: -1 },
      { ...ok, n: 2 },
      { ...ok, n: 0.5 },
      { ...ok, n: "0" },
      { ...ok, of: 0 },
      { ...ok, of: MAX_PARTS + 1 },
      { ...ok, of: Number.NaN },
      { ...ok, d: 1 },
      { ...ok, d: "x".repeat(2001) },
    ]) {
      expect(isFragment(bad)).toBe(false);
    }
  });
});

describe("Reassembler", () => {
  const text = textOf(4500);
  const fs = splitPayload("o1@7", text, 1000);

  test("out-of-order and duplicate delivery yields the text exactly once", () => {
    const rnd = mulberry32(1);
    for (let round = 0; round < 20; round++) {
      const r = new Reassembler();
      const deliveries = shuffle([...fs, ...fs.filter(() => rnd() < 0.5)], rnd);
      // Duplicates after completion start a fresh partial; only the first completion counts here.
      const first = deliveries.findIndex(
        (_, i) => new Set(deliveries.slice(0, i + 1).map((f) => f.n)).size === fs.length,
      );
      expect(feed(r, "a", deliveries.slice(0, first + 1))).toEqual([text]);
      expect(r.stats.completed).toBe(1);
    }
  });

  test("a duplicate part is ignored while the message is partial", () => {
    const r = new Reassembler();
    expect(feed(r, "a", [fs[0], fs[0], fs[1]])).toEqual([]);
    expect(r.bufferedChars).toBe(2000);
    expect(feed(r, "a", fs.slice(2))).toEqual([text]);
  });

  test("the same id from two senders is kept apart", () => {
    const other = splitPayload("o1@7", textOf(3000).toUpperCase(), 1000);
    const r = new Reassembler();
    expect(feed(r, "a", fs.slice(0, 3))).toEqual([]);
    expect(feed(r, "b", other.slice(0, 2))).toEqual([]);
    expect(r.inFlight).toBe(2);
    expect(feed(r, "b", other.slice(2))).toEqual([textOf(3000).toUpperCase()]);
    expect(feed(r, "a", fs.slice(3))).toEqual([text]);
    // A sender whose address is a prefix of another's cannot collide either.
    const r2 = new Reassembler();
    expect(r2.add("ab", { s: "f", id: "c", n: 0, of: 2, d: "1" }, 0)).toBeNull();
    expect(r2.add("a", { s: "f", id: "bc", n: 1, of: 2, d: "2" }, 0)).toBeNull();
    expect(r2.inFlight).toBe(2);
  });

  test("a part whose count disagrees drops the partial message", () => {
    const r = new Reassembler();
    feed(r, "a", fs.slice(0, 2));
    expect(r.add("a", { ...fs[2], of: 6 }, 0)).toBeNull();
    expect(r.stats.malformed).toBe(1);
    expect(r.inFlight).toBe(0);
    expect(r.bufferedChars).toBe(0);
    // The rest alone no longer completes it.
    expect(feed(r, "a", fs.slice(2))).toEqual([]);
  });

  test("an out-of-range index or garbage with a known id drops the partial message", () => {
    const r = new Reassembler();
    feed(r, "a", fs.slice(0, 2));
    expect(r.add("a", { ...fs[2], n: 5 }, 0)).toBeNull();
    expect(r.stats.malformed).toBe(1);
    expect(r.inFlight).toBe(0);
    feed(r, "a", fs.slice(0, 2));
    expect(r.add("a", { id: fs[0].id, junk: true } as unknown as FragmentMsg, 0)).toBeNull();
    expect(r.stats.malformed).toBe(2);
    expect(r.inFlight).toBe(0);
  });

  test("parts adding up past the reassembly limit are malformed", () => {
    const r = new Reassembler({ maxBytes: 1 << 20 });
    const big = (n: number): FragmentMsg => ({ s: "f", id: "i", n, of: MAX_PARTS, d: "x".repeat(2000) });
    for (let n = 0; n < 32; n++) r.add("a", big(n), 0);
    expect(r.add("a", big(32), 0)).toBeNull();
    expect(r.stats.malformed).toBe(1);
    expect(r.bufferedChars).toBe(0);
  });

  test("partial messages expire after the TTL", () => {
    const r = new Reassembler({ ttlMs: 1000 });
    feed(r, "a", fs.slice(0, 2), 0);
    r.expire(1000);
    expect(r.inFlight).toBe(1);
    r.expire(1001);
    expect(r.stats.expired).toBe(1);
    expect(r.inFlight).toBe(0);
    // A late part starts afresh and cannot complete with what was lost.
    expect(feed(r, "a", fs.slice(2), 1002)).toEqual([]);
    // add() expires on its own too.
    r.add("b", fs[0], 5000);
    expect(r.stats.expired).toBe(2);
    expect(r.inFlight).toBe(1);
  });

  test("evicts the oldest partial message at maxInFlight", () => {
    const r = new Reassembler({ maxInFlight: 3 });
    for (const id of ["m0", "m1", "m2", "m3"]) r.add("a", splitPayload(id, text, 1000)[0], 0);
    expect(r.stats.evicted).toBe(1);
    expect(r.inFlight).toBe(3);
    // m0 went; m3 still completes.
    expect(feed(r, "a", splitPayload("m0", text, 1000).slice(1))).toEqual([]);
    expect(feed(r, "a", splitPayload("m3", text, 1000).slice(1))).toEqual([text]);
  });

  test("evicts the oldest partial message at maxBytes, and a part alone too large for it", () => {
    const r = new Reassembler({ maxBytes: 2500 });
    r.add("a", splitPayload("m0", text, 1000)[0], 0);
    r.add("a", splitPayload("m1", text, 1000)[0], 0);
    expect(r.bufferedChars).toBe(2000);
    r.add("a", splitPayload("m2", text, 1000)[0], 0);
    expect(r.stats.evicted).toBe(1);
    expect(r.bufferedChars).toBe(2000);
    const tiny = new Reassembler({ maxBytes: 500 });
    expect(tiny.add("a", fs[0], 0)).toBeNull();
    expect(tiny.stats.evicted).toBe(1);
    expect(tiny.bufferedChars).toBe(0);
  });

  test("fuzz: random objects never throw and never corrupt accounting", () => {
    const rnd = mulberry32(0xf4a9);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
    const value = (): unknown =>
      pick<() => unknown>([
        () => Math.floor(rnd() * 8) - 2,
        () => rnd() * 1e6,
        () => pick([null, undefined, true, Number.NaN, Number.POSITIVE_INFINITY, -0, "", "f", "x"]),
        () => "d".repeat(Math.floor(rnd() * 2100)),
        () => [1, "a"],
        () => ({ n: 1 }),
      ])();
    const r = new Reassembler({ maxInFlight: 8, maxBytes: 20_000, ttlMs: 500 });
    let now = 0;
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const obj: Record<string, unknown> =
        rnd() < 0.1 ? {} : { s: rnd() < 0.9 ? "f" : value(), id: pick(["a", "b", "c", value()]) };
      // Mostly small counts and short strings, so a good share passes the check and completes.
      if (rnd() < 0.95) obj.n = rnd() < 0.8 ? Math.floor(rnd() * 3) : value();
      if (rnd() < 0.95) obj.of = rnd() < 0.8 ? 1 + Math.floor(rnd() * 3) : value();
      if (rnd() < 0.95) obj.d = rnd() < 0.8 ? pick(["x", "yy", ""]) : value();
      if (rnd() < 0.02) obj.__proto__ = null;
      const data: unknown = rnd() < 0.05 ? value() : obj;
      if (isFragment(data)) accepted++;
      now += Math.floor(rnd() * 20);
      expect(() => r.add(pick(["p", "q"]), data as FragmentMsg, now)).not.toThrow();
      expect(r.inFlight).toBeLessThanOrEqual(8);
      expect(r.bufferedChars).toBeLessThanOrEqual(20_000);
      expect(r.bufferedChars).toBeGreaterThanOrEqual(0);
    }
    // The generator must reach both sides of the check for the loop to mean anything.
    expect(accepted).toBeGreaterThan(1000);
    expect(r.stats.malformed).toBeGreaterThan(100);
    expect(r.stats.completed).toBeGreaterThan(100);
  });
});
