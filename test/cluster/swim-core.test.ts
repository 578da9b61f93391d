import { describe, expect, test } from "bun:test";
import { SwimCore, type SwimEvent } from "../../src/cluster/swim/core.ts";
import { mulberry32 } from "../../src/cluster/sim/prng.ts";
import { decodeEnvelope } from "../../src/cluster/swim/messages.ts";

function core(id: string, extra: Partial<ConstructorParameters<typeof SwimCore>[0]> = {}) {
  return new SwimCore({
    id,
    addr: id,
    generation: 1,
    incarnation: 0,
    now: 0,
    random: mulberry32(id.length * 31 + id.charCodeAt(0)),
    ...extra,
  });
}

/** Deliver everything between cores until quiet (no loss, no delay). */
function pump(cores: SwimCore[], now: number, rounds = 20): SwimEvent[] {
  const by = new Map(cores.map((c) => [c.addr, c]));
  const events: SwimEvent[] = [];
  for (let r = 0; r < rounds; r++) {
    let moved = false;
    for (const c of cores) {
      const { packets, events: ev } = c.drain();
      events.push(...ev);
      for (const p of packets) {
        moved = true;
        by.get(p.to)?.receive(now, c.addr, p.data);
      }
    }
    if (!moved) break;
  }
  return events;
}

/** Two cores, "a" and "b", after b joined through a and everything was delivered. */
function joinedPair(): [SwimCore, SwimCore] {
  const a = core("a");
  const b = core("b");
  b.join(0, ["a"]);
  pump([a, b], 0);
  return [a, b];
}

/** `c` hears one message from member "c" at time 1 (a rumour from a third member). */
function hearFromC(c: SwimCore, m: Record<string, unknown>): void {
  c.receive(1, "c", JSON.stringify({ f: "c", m: [m] }));
}

describe("swim core", () => {
  test("starts above the persisted incarnation and reports it", () => {
    const c = core("a", { incarnation: 41 });
    expect(c.incarnation).toBe(42);
    expect(c.drain().events).toContainEqual({ type: "incarnation", value: 42 });
  });

  test("join exchanges member lists", () => {
    const [a, b] = joinedPair();
    expect(
      a
        .members()
        .map((m) => m.id)
        .sort(),
    ).toEqual(["a", "b"]);
    expect(b.members().find((m) => m.id === "a")?.state).toBe("alive");
  });

  test("a packet from a member we missed makes us ask it for its own entry, not its table", () => {
    const a = core("a");
    const b = core("b", { incarnation: 6 });
    a.drain();
    b.drain();
    // b knows a (a's join gossip reached it); every copy of b's own join was lost to a.
    a.receive(0, "b", JSON.stringify({ f: "b", m: [{ t: "p", q: 1, n: "a" }] }));
    const asked = a.drain().packets.filter((p) => p.data.includes('"r":2'));
    expect(asked.map((p) => p.to)).toEqual(["b"]);
    b.receive(0, "a", asked[0].data);
    const reply = b.drain().packets.filter((p) => p.to === "a");
    expect(reply.length).toBe(1);
    expect(reply[0].data).toContain('"r":0');
    a.receive(0, "b", reply[0].data);
    expect(a.members().find((m) => m.id === "b")).toMatchObject({ state: "alive", incarnation: 7 });
    // A silent stranger is asked once per probe interval, three times, then left to push-pull.
    const asks = () => a.drain().packets.filter((p) => p.to === "c" && p.data.includes('"r":2')).length;
    hearFromC(a, { t: "p", q: 2, n: "a" });
    a.receive(2, "c", JSON.stringify({ f: "c", m: [{ t: "p", q: 3, n: "a" }] }));
    expect(asks()).toBe(1);
    let n = 0;
    for (let t = 100; t <= 4000; t += 100) {
      a.tick(t);
      n += asks();
    }
    expect(n).toBe(2);
    // After the rate-limit window a new packet from it is asked about again.
    for (let t = 4100; t <= 6000; t += 100) a.tick(t);
    a.drain();
    a.receive(6001, "c", JSON.stringify({ f: "c", m: [{ t: "p", q: 4, n: "a" }] }));
    expect(asks()).toBe(1);
  });

  test("an independent confirmation is re-gossiped as a valid suspect message", () => {
    const a = core("a");
    const others = ["b", "c", "d", "e"].map((id) => core(id));
    for (const o of others) o.join(0, ["a"]);
    pump([a, ...others], 0);
    const b = others[0];
    // c accuses b; then d's table lists b as suspect: d is an independent confirmer.
    hearFromC(a, { t: "S", n: "b", g: 1, i: b.incarnation, f: "c" });
    a.receive(2, "d", JSON.stringify({ f: "d", m: [{ t: "M", r: 0, m: [["b", "b", 1, b.incarnation, 1]] }] }));
    a.drain();
    a.tick(1000);
    const gossip = a.drain().packets.filter((p) => p.to !== "b");
    expect(gossip.length).toBeGreaterThan(0);
    for (const p of gossip) expect(decodeEnvelope(p.data)).not.toBeNull();
    const confirmations = gossip.flatMap((p) => decodeEnvelope(p.data)!.m).filter((m) => m.t === "S" && m.n === "b");
    expect(confirmations).toContainEqual({ t: "S", n: "b", g: 1, i: b.incarnation, f: "d" });
  });

  test("a packet from a member we hold dead makes us tell it; its refutation revives it here", () => {
    const [a, b] = joinedPair();
    // a missed b's refutation: it holds b dead at b's old incarnation.
    hearFromC(a, { t: "D", n: "b", g: 1, i: b.incarnation, f: "c" });
    expect(a.stateOf("b")).toBe("dead");
    a.drain();
    // b, alive, probes a; a answers and tells b it holds it dead; b refutes and answers.
    a.receive(2, "b", JSON.stringify({ f: "b", m: [{ t: "p", q: 9, n: "a" }] }));
    const told = a.drain().packets.filter((p) => p.to === "b" && p.data.includes('"r":2'));
    expect(told.length).toBe(1);
    expect(told[0].data).toContain(`["b","b",1,${b.incarnation},2]`);
    const before = b.incarnation;
    b.receive(2, "a", told[0].data);
    expect(b.incarnation).toBe(before + 1);
    for (const p of b.drain().packets.filter((x) => x.to === "a")) a.receive(3, "b", p.data);
    expect(a.stateOf("b")).toBe("alive");
  });

  test("a full table spans several packets but asks for the peer's table once", () => {
    const a = core("a");
    const tuples = Array.from({ length: 200 }, (_, i) => [`member-${i}`, `10.0.${i >> 8}.${i & 255}:7946`, 1, 1, 0]);
    for (let i = 0; i < 200; i += 20)
      a.receive(0, "x", JSON.stringify({ f: "x", m: [{ t: "M", r: 0, m: tuples.slice(i, i + 20) }] }));
    a.drain();
    a.join(1, ["seed"]);
    const sent = a.drain().packets.filter((p) => p.to === "seed");
    expect(sent.length).toBeGreaterThan(3);
    expect(sent.filter((p) => p.data.includes('"r":1')).length).toBe(1);
    expect(
      sent.reduce((n, p) => n + decodeEnvelope(p.data)!.m.reduce((k, m) => k + (m.t === "M" ? m.m.length : 0), 0), 0),
    ).toBe(201);
  });

  test("malformed and misaddressed packets are counted, never thrown", () => {
    const a = core("a");
    for (const junk of ["", "{", "null", '{"f":"x","m":[{"t":"zz"}]}', '{"f":"x","m":[]}', "x".repeat(70000)])
      a.receive(0, "x", junk);
    expect(a.stats.malformed).toBe(6);
    a.receive(0, "x", JSON.stringify({ f: "x", m: [{ t: "p", q: 1, n: "not-a" }] }));
    expect(a.stats.misdirected).toBe(1);
    expect(a.drain().packets.length).toBe(0);
  });

  test("a node refutes suspicion about itself with a higher incarnation", () => {
    const a = core("a");
    const inc = a.incarnation;
    a.drain();
    a.receive(0, "b", JSON.stringify({ f: "b", m: [{ t: "S", n: "a", g: 1, i: inc, f: "b" }] }));
    expect(a.incarnation).toBe(inc + 1);
    expect(a.stats.refutes).toBe(1);
    expect(a.awareness.score).toBe(1);
    expect(a.drain().events).toContainEqual({ type: "incarnation", value: inc + 1 });
  });

  test("a higher generation replaces a member at once, even a live one", () => {
    const [a, _b] = joinedPair();
    const b2 = core("b", { generation: 2 });
    b2.join(10, ["a"]);
    const ev = pump([a, b2], 10);
    expect(ev.some((e) => e.type === "member" && e.change === "replaced" && e.member.id === "b")).toBe(true);
    expect(a.members().find((m) => m.id === "b")?.generation).toBe(2);
    // A stale message from the old generation is ignored.
    a.receive(20, "b", JSON.stringify({ f: "b", m: [{ t: "A", n: "b", a: "b", g: 1, i: 99 }] }));
    expect(a.members().find((m) => m.id === "b")?.generation).toBe(2);
  });

  test("graceful leave is seen as left, not dead", () => {
    const [a, b] = joinedPair();
    b.leave(100);
    const ev = pump([a, b], 100);
    expect(ev.some((e) => e.type === "member" && e.change === "left" && e.member.id === "b")).toBe(true);
  });

  test("unanswered probe leads to suspect, then dead after the suspicion timeout", () => {
    const [a, _b] = joinedPair();
    const events: SwimEvent[] = [];
    // b is gone: a's packets go nowhere.
    for (let t = 0; t < 30_000; t = Math.max(t + 1, a.nextDeadline())) {
      a.tick(t);
      events.push(...a.drain().events);
    }
    const changes = events.filter((e) => e.type === "member").map((e) => (e as { change: string }).change);
    expect(changes).toEqual(["suspect", "dead"]);
  });

  test("ping to a suspect member carries the suspicion (buddy system)", () => {
    const [a, b] = joinedPair();
    hearFromC(a, { t: "S", n: "b", g: 1, i: b.incarnation, f: "c" });
    a.drain();
    let ping: string | undefined;
    for (let t = 1; t < 5000 && !ping; t = Math.max(t + 1, a.nextDeadline())) {
      a.tick(t);
      ping = a.drain().packets.find((p) => p.to === "b" && p.data.includes('"t":"p"'))?.data;
    }
    expect(ping).toContain('"t":"S"');
    b.receive(2, "a", ping!);
    expect(b.stats.refutes).toBe(1);
  });

  test("event-loop lag raises local health score and stretches the probe interval", () => {
    const a = core("a");
    a.reportLag(50);
    expect(a.awareness.score).toBe(0);
    a.reportLag(800);
    a.reportLag(800);
    expect(a.awareness.score).toBe(2);
  });
});

describe("two hosts with one node name", () => {
  test("both learn of the other (address named), neither takes the other's messages for its own, answers stay bounded", () => {
    const a = core("twin", { addr: "10.0.0.1:7946" });
    const b = core("twin", { addr: "10.0.0.2:7946" });
    b.join(0, ["10.0.0.1:7946"]);
    const byAddr = new Map([
      [a.addr, a],
      [b.addr, b],
    ]);
    const seen: [string, SwimEvent][] = [];
    let sent = 0;
    for (let round = 0; round < 10; round++) {
      for (const c of [a, b]) {
        const { packets, events } = c.drain();
        for (const e of events) seen.push([c.addr, e]);
        for (const p of packets) {
          sent++;
          byAddr.get(p.to)?.receive(round, c.addr, p.data);
        }
      }
    }
    const namesakes = seen.filter(([, e]) => e.type === "namesake");
    expect(namesakes).toEqual([
      ["10.0.0.1:7946", { type: "namesake", addr: "10.0.0.2:7946" }],
      ["10.0.0.2:7946", { type: "namesake", addr: "10.0.0.1:7946" }],
    ]);
    // The join and one answer each way, then nothing more within 5 s.
    expect(sent).toBeLessThanOrEqual(3);
    expect(a.members().map((m) => m.addr)).toEqual(["10.0.0.1:7946"]);
  });
});
