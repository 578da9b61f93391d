/** Named alarms: conditions until cleared, events until a quiet spell, mirrored in netlet_alarm. */
import { expect, test } from "bun:test";
import { Alarms } from "../../src/agent/alarms.ts";
import { Registry } from "../../src/metrics.ts";

test("conditions hold until cleared; events count and expire after their quiet spell; the gauge follows", () => {
  let now = 1_000;
  const reg = new Registry();
  const g = reg.gauge("netlet_alarm", "test");
  const a = new Alarms(() => now, g);
  a.set("reconcile.links", "cannot add br100");
  a.event("dhcp.internal_error", "packet handling failed on br100", 60_000);
  now += 30_000;
  a.event("dhcp.internal_error", "packet handling failed on br100", 60_000);
  expect(a.lines()).toEqual([
    "reconcile.links: cannot add br100",
    "dhcp.internal_error: packet handling failed on br100 (2 times)",
  ]);
  expect(g.get({ name: "dhcp.internal_error" })).toBe(1);
  now += 60_001;
  expect(a.list().map((x) => x.name)).toEqual(["reconcile.links"]);
  expect(g.get({ name: "dhcp.internal_error" })).toBe(0);
  a.clear("reconcile.links");
  expect(a.lines()).toEqual([]);
  expect(g.get({ name: "reconcile.links" })).toBe(0);
  expect(reg.render()).toContain('netlet_alarm{name="reconcile.links"} 0');
});
