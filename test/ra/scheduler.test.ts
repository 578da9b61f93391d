import { describe, expect, test } from "bun:test";
import { MIN_DELAY_BETWEEN_RAS_MS, RaScheduler, type RaSend } from "../../src/ra/scheduler.ts";
import { mulberry32 as seeded } from "../../src/cluster/sim/prng.ts";

type Sent = RaSend & { at: number };

/** Drives the scheduler with a fake clock until `until`, calling `events[t]` hooks on the way. */
function runUntil(s: RaScheduler, until: number, hooks: [number, () => void][] = []): Sent[] {
  const sent: Sent[] = [];
  const pending = [...hooks].sort((a, b) => a[0] - b[0]);
  for (;;) {
    const wake = s.nextWakeAt() ?? Infinity;
    const hookAt = pending[0]?.[0] ?? Infinity;
    const now = Math.min(wake, hookAt);
    if (now > until) return sent;
    if (hookAt <= wake) pending.shift()![1]();
    else for (const x of s.poll(now)) sent.push({ ...x, at: now });
  }
}

const gaps = (xs: Sent[]) => xs.slice(1).map((x, i) => x.at - xs[i].at);

describe("RaScheduler unsolicited RAs", () => {
  test("first RA goes out at start, then at random intervals within [Min, Max]", () => {
    const s = new RaScheduler({ random: seeded(1) });
    s.start(1000);
    const sent = runUntil(s, 1000 + 3_600_000);
    expect(sent[0]).toEqual({ kind: "multicast", final: false, at: 1000 });
    const g = gaps(sent);
    expect(g.length).toBeGreaterThan(300);
    expect(Math.min(...g)).toBeGreaterThanOrEqual(3000);
    expect(Math.max(...g)).toBeLessThanOrEqual(10000);
    // Spread, not a constant: both halves of the range are used.
    expect(g.some((x) => x < 5000) && g.some((x) => x > 8000)).toBe(true);
  });

  test("the extreme random values give exactly Min and Max", () => {
    const lo = new RaScheduler({ random: () => 0 });
    lo.start(0);
    expect(gaps(runUntil(lo, 30_000))).toEqual([3000, 3000, 3000, 3000, 3000, 3000, 3000, 3000, 3000, 3000]);
    const hi = new RaScheduler({ random: () => 1 });
    hi.start(0);
    expect(gaps(runUntil(hi, 30_000))).toEqual([10000, 10000, 10000]);
  });

  test("the first three RAs are at most 16 s apart even with a large Max", () => {
    const s = new RaScheduler({ minIntervalMs: 200_000, maxIntervalMs: 600_000, random: () => 0.99 });
    s.start(0);
    const g = gaps(runUntil(s, 2_000_000));
    expect(g.slice(0, 3)).toEqual([16000, 16000, 16000]);
    expect(g[3]).toBeGreaterThan(500_000);
  });

  test("interval bounds outside RFC 4861 are refused at construction", () => {
    expect(() => new RaScheduler({ minIntervalMs: 2000, maxIntervalMs: 10000, random: Math.random })).toThrow(
      RangeError,
    );
    expect(() => new RaScheduler({ minIntervalMs: 9000, maxIntervalMs: 10000, random: Math.random })).toThrow(
      RangeError,
    );
    expect(() => new RaScheduler({ maxIntervalMs: 2_000_000, random: Math.random })).toThrow(RangeError);
    expect(() => new RaScheduler({ random: Math.random, finalCount: 4 })).toThrow(RangeError);
  });

  test("nothing is sent before start", () => {
    const s = new RaScheduler({ random: () => 0.5 });
    expect(s.nextWakeAt()).toBeNull();
    expect(s.poll(100_000)).toEqual([]);
    expect(s.solicit(100_000, "fe80::1")).toBe("not-advertising");
  });
});

describe("RaScheduler solicited RAs", () => {
  test("an RS from a link-local host is answered by unicast after a 0–0.5 s delay", () => {
    const s = new RaScheduler({ random: () => 0.5 }); // delays 250 ms, intervals 6.5 s
    s.start(0);
    let outcome = "";
    const sent = runUntil(s, 6000, [[4000, () => (outcome = s.solicit(4000, "fe80::ff:fe00:10"))]]);
    expect(outcome).toBe("unicast");
    expect(sent).toEqual([
      { kind: "multicast", final: false, at: 0 },
      { kind: "unicast", to: "fe80::ff:fe00:10", final: false, at: 4250 },
    ]);
  });

  test("answer delays stay within 0.5 s for any random value", () => {
    const s = new RaScheduler({ random: seeded(7) });
    s.start(0);
    const asked = new Map<string, number>();
    const hooks: [number, () => void][] = [];
    for (let i = 1; i <= 200; i++) {
      const at = 100 + i * 37;
      hooks.push([
        at,
        () => {
          s.solicit(at, `fe80::${i.toString(16)}`);
          asked.set(`fe80::${i.toString(16)}`, at);
        },
      ]);
    }
    const sent = runUntil(s, 10_000, hooks);
    const unicast = sent.filter((x) => x.kind === "unicast") as (Sent & { to: string })[];
    expect(unicast.length).toBeGreaterThan(30);
    // Every solicitation is answered: by unicast within 0.5 s or by a multicast RA within 3.5 s.
    for (const [src, at] of asked) {
      const answer = sent.find(
        (x) => x.at >= at && (x.kind === "multicast" ? x.at - at <= 3500 : x.to === src && x.at - at <= 500),
      );
      expect(answer).toBeDefined();
    }
    for (const x of unicast) {
      const delay = x.at - asked.get(x.to)!;
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(500);
    }
  });

  test("maxSolicitedDelayMs 0 answers at once; values above the RFC bound are refused", () => {
    const s = new RaScheduler({ random: () => 0.99, maxSolicitedDelayMs: 0 });
    s.start(0);
    s.poll(0);
    s.solicit(1234, "fe80::1");
    expect(s.nextWakeAt()).toBe(1234);
    expect(() => new RaScheduler({ random: () => 0, maxSolicitedDelayMs: 501 })).toThrow(RangeError);
  });

  test("duplicates are merged; beyond the pending bound solicitations get the multicast RA", () => {
    const s = new RaScheduler({ random: () => 0.9, maxPendingUnicast: 2 }); // delay 450 ms, interval 9.3 s
    s.start(0);
    s.poll(0);
    expect(s.solicit(5000, "fe80::1")).toBe("unicast");
    expect(s.solicit(5001, "fe80::1")).toBe("already-pending");
    expect(s.solicit(5002, "fe80::2")).toBe("unicast");
    expect(s.solicit(5003, "fe80::3")).toBe("multicast");
    expect(s.nextWakeAt()).toBe(5450); // the first unicast answer
    expect(s.poll(5450).map((x) => x.kind)).toEqual(["unicast"]);
    expect(s.poll(5453)).toEqual([{ kind: "multicast", final: false }]); // 5003 + 450, and fe80::2 is covered by it
    expect(s.nextWakeAt()).toBe(5453 + 9300);
  });

  test("a flood of solicitations from forged sources is bounded", () => {
    const s = new RaScheduler({ random: seeded(3) });
    s.start(0);
    const hooks: [number, () => void][] = [];
    for (let i = 0; i < 10_000; i++) hooks.push([1000 + i, () => s.solicit(1000 + i, `fe80::${(i + 1).toString(16)}`)]);
    const sent = runUntil(s, 11_000, hooks);
    const unicast = sent.filter((x) => x.kind === "unicast").length;
    const multicast = sent.filter((x) => x.kind === "multicast");
    expect(multicast.length).toBeGreaterThanOrEqual(3);
    expect(unicast).toBeLessThanOrEqual(16 * multicast.length); // at most the bound per multicast cycle
    expect(Math.min(...gaps(multicast))).toBeGreaterThanOrEqual(MIN_DELAY_BETWEEN_RAS_MS);
  });

  test("an RS from :: pulls the multicast RA forward but not closer than 3 s to the last one", () => {
    const s = new RaScheduler({ random: () => 0.99 }); // unsolicited interval ~9.9 s, delay ~495 ms
    s.start(0);
    const sent = runUntil(s, 9000, [
      [1000, () => s.solicit(1000, "::")],
      [5000, () => s.solicit(5000, "::")],
    ]);
    expect(sent.map((x) => x.at)).toEqual([0, 3495, 6990]); // second RS: 3495 + 3000 + 495
  });

  test("multicast RAs are never closer than MIN_DELAY_BETWEEN_RAS under a stream of RS from ::", () => {
    const rnd = seeded(42);
    const s = new RaScheduler({ random: rnd });
    s.start(0);
    const hooks: [number, () => void][] = [];
    for (let t = 1; t < 120_000; t += 137) hooks.push([t, () => s.solicit(t, "::")]);
    const multicast = runUntil(s, 120_000, hooks).filter((x) => x.kind === "multicast");
    expect(multicast.length).toBeGreaterThan(20);
    expect(Math.min(...gaps(multicast))).toBeGreaterThanOrEqual(MIN_DELAY_BETWEEN_RAS_MS);
  });

  test("a multicast RA makes waiting unicast answers redundant", () => {
    const r = [0.99, 0.99, 0.99]; // interval 9930 ms, then two 495 ms delays, then 0
    const s = new RaScheduler({ random: () => r.shift() ?? 0 });
    s.start(0);
    s.poll(0);
    expect(s.solicit(9500, "fe80::9")).toBe("unicast"); // due 9995
    expect(s.solicit(9501, "fe80::a")).toBe("unicast"); // due 9996
    expect(s.poll(9930)).toEqual([{ kind: "multicast", final: false }]);
    expect(s.nextWakeAt()).toBe(9930 + 3000);
    expect(s.poll(10_000)).toEqual([]);
  });
});

describe("RaScheduler content changes", () => {
  test("a change pulls the next RA forward, respecting the 3 s gap", () => {
    const s = new RaScheduler({ random: () => 0.99 }); // intervals 9930 ms
    s.start(0);
    s.poll(0);
    s.changed(1000);
    expect(s.nextWakeAt()).toBe(3000);
    s.poll(3000);
    s.changed(8000);
    expect(s.nextWakeAt()).toBe(8000);
  });

  test("a change after the initial phase restarts the 16 s cap", () => {
    const s = new RaScheduler({ minIntervalMs: 200_000, maxIntervalMs: 600_000, random: () => 0.99 });
    s.start(0);
    const sent = runUntil(s, 1_500_000, [[1_000_000, () => s.changed(1_000_000)]]);
    const after = sent.filter((x) => x.at >= 1_000_000).map((x) => x.at);
    expect(after.slice(0, 4)).toEqual([1_000_000, 1_016_000, 1_032_000, 1_048_000]);
  });

  test("a change before start or after stop does nothing", () => {
    const s = new RaScheduler({ random: () => 0.5 });
    s.changed(10);
    expect(s.nextWakeAt()).toBeNull();
  });
});

describe("RaScheduler final RAs", () => {
  test("stop sends one final RA at once and then nothing", () => {
    const s = new RaScheduler({ random: () => 0.5 });
    s.start(0);
    s.poll(0);
    s.solicit(500, "fe80::1");
    s.stop(1000); // only 1 s after the last multicast: the final RA still goes out at once
    expect(s.poll(1000)).toEqual([{ kind: "multicast", final: true }]);
    expect(s.phase).toBe("done");
    expect(s.nextWakeAt()).toBeNull();
    expect(s.solicit(2000, "fe80::2")).toBe("not-advertising");
  });

  test("finalCount 3 spaces the final RAs by MIN_DELAY_BETWEEN_RAS", () => {
    const s = new RaScheduler({ random: () => 0.5, finalCount: 3 });
    s.start(0);
    let sent: Sent[] = [];
    sent = runUntil(s, 100_000, [[20_000, () => s.stop(20_000)]]);
    const finals = sent.filter((x) => x.final);
    expect(finals.map((x) => x.at)).toEqual([20_000, 23_000, 26_000]);
    expect(sent.at(-1)!.final).toBe(true);
  });

  test("stop can ask for more final RAs than the default", () => {
    const s = new RaScheduler({ random: () => 0.5 });
    s.start(0);
    const sent = runUntil(s, 60_000, [[20_000, () => s.stop(20_000, 3)]]);
    expect(sent.filter((x) => x.final).map((x) => x.at)).toEqual([20_000, 23_000, 26_000]);
  });

  test("an interface that never advertised sends no final RA", () => {
    const s = new RaScheduler({ random: () => 0.5 });
    s.stop(10);
    expect(s.phase).toBe("done");
    expect(s.poll(10)).toEqual([]);
  });
});
