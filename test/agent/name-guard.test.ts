/**
 * The start-up wait of a joining host for its node name, in fake time: a namesake makes the
 * newcomer refuse within the wait; a live peer ends the wait early (and a later namesake only
 * raises the alarm); with neither, the host proceeds once NAME_CHECK_MS have passed.
 */
import { expect, test } from "bun:test";
import { NAME_CHECK_MS, NameGuard } from "../../src/agent/name-guard.ts";
import { createLogger } from "../../src/log.ts";
import { FakeClock } from "../../src/util/clock.ts";

function setup() {
  const clock = new FakeClock();
  const lines: string[] = [];
  const state = { newcomer: true, refusals: 0 };
  const guard = new NameGuard({
    id: "twin",
    clock,
    log: createLogger({ write: (l) => lines.push(l) }),
    isNewcomer: () => state.newcomer,
    onRefuse: () => state.refusals++,
  });
  const start = clock.now();
  const outcome: { refused?: string | null; after?: number } = {};
  void guard.check().then((refused) => {
    outcome.refused = refused;
    outcome.after = clock.now() - start;
  });
  return { clock, lines, state, guard, outcome };
}

test("a namesake seen during the wait: the newcomer refuses at once, naming the other host", async () => {
  const { clock, lines, state, guard, outcome } = setup();
  await clock.advance(1_000);
  expect(outcome).toEqual({});
  guard.seen("10.251.0.11:7946");
  await clock.settle();
  const text =
    "another host at 10.251.0.11:7946 already uses the node name twin: this host refused to join; give it a unique name (host = … in netlet.conf) and restart";
  expect(outcome).toEqual({ refused: text, after: 1_000 });
  expect(state.refusals).toBe(1);
  expect(guard.alarms()).toEqual([`cluster.node_name: ${text}`]);
  expect(lines.join("\n")).toContain('msg="node name conflict: not joining" name=twin other=10.251.0.11:7946');
  // The timeout was cancelled: nothing is left to fire.
  expect(clock.pending).toBe(0);
});

test("no namesake and no peer: the host proceeds once NAME_CHECK_MS have passed, not before", async () => {
  const { clock, state, guard, outcome } = setup();
  await clock.advance(NAME_CHECK_MS - 1);
  expect(outcome).toEqual({});
  await clock.advance(1);
  expect(outcome).toEqual({ refused: null, after: NAME_CHECK_MS });
  expect(state.refusals).toBe(0);
  expect(guard.alarms()).toEqual([]);
});

test("a live peer ends the wait early; a namesake seen afterwards raises the alarm without refusing", async () => {
  const { clock, state, guard, outcome } = setup();
  await clock.advance(200);
  guard.membership(); // still no live peer: keeps waiting
  await clock.settle();
  expect(outcome).toEqual({});
  state.newcomer = false;
  guard.membership();
  await clock.settle();
  expect(outcome).toEqual({ refused: null, after: 200 });
  expect(clock.pending).toBe(0);
  guard.seen("10.251.0.12:7946");
  expect(state.refusals).toBe(0);
  expect(guard.refused).toBeNull();
  expect(guard.alarms()).toEqual([
    "cluster.node_name: the host at 10.251.0.12:7946 also uses this node name twin (a cloned image?): one of them needs another name (host = … in netlet.conf)",
  ]);
  expect(guard.namesakes()).toEqual([{ addr: "10.251.0.12:7946", since: clock.now() }]);
});
