/** FakeClock runs due timers in due order, only when told, and lets the work they start settle. */
import { expect, test } from "bun:test";
import { FakeClock, realClock } from "../../src/util/clock.ts";

test("timers run in due order, same-instant ones in the order they were set, with now() at their due time", async () => {
  const c = new FakeClock(1000);
  const ran: string[] = [];
  c.setTimer(30, () => ran.push(`c@${c.now()}`));
  c.setTimer(10, () => ran.push(`a@${c.now()}`));
  c.setTimer(10, () => ran.push(`b@${c.now()}`));
  await c.advance(9);
  expect(ran).toEqual([]);
  expect(c.now()).toBe(1009);
  await c.advance(100);
  expect(ran).toEqual(["a@1010", "b@1010", "c@1030"]);
  expect(c.now()).toBe(1109);
  expect(c.pending).toBe(0);
});

test("a cancelled timer never runs; cancelling twice or after it ran is harmless", async () => {
  const c = new FakeClock(0);
  let n = 0;
  const cancel = c.setTimer(5, () => n++);
  cancel();
  cancel();
  await c.advance(10);
  expect(n).toBe(0);
  const done = c.setTimer(5, () => n++);
  await c.advance(5);
  done();
  expect(n).toBe(1);
});

test("every() repeats at its period until cancelled", async () => {
  const c = new FakeClock(0);
  const at: number[] = [];
  const cancel = c.every(100, () => at.push(c.now()));
  await c.advance(350);
  expect(at).toEqual([100, 200, 300]);
  cancel();
  await c.advance(1000);
  expect(at).toEqual([100, 200, 300]);
});

test("async work started by a timer runs before the next timer fires, and its own timers are honoured", async () => {
  const c = new FakeClock(0);
  const log: string[] = [];
  const chain = async () => {
    log.push(`start@${c.now()}`);
    await c.sleep(20);
    log.push(`slept@${c.now()}`);
    await c.sleep(20);
    log.push(`done@${c.now()}`);
  };
  c.setTimer(10, () => void chain());
  c.setTimer(35, () => log.push(`other@${c.now()}`));
  await c.advance(100);
  expect(log).toEqual(["start@10", "slept@30", "other@35", "done@50"]);
});

test("the real clock reads the wall clock and its timers can be cancelled", async () => {
  const before = Date.now();
  expect(realClock.now()).toBeGreaterThanOrEqual(before);
  let ran = false;
  const cancel = realClock.setTimer(0, () => {
    ran = true;
  });
  cancel();
  // A later timer of the same delay runs after the cancelled one would have.
  await new Promise<void>((resolve) => realClock.setTimer(1, resolve));
  expect(ran).toBe(false);
});
