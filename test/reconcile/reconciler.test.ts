/** The reconciler turns store changes into passes: at once after a quiet spell, coalesced in a burst. */
import { expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/log.ts";
import { Reconciler, stepsFor } from "../../src/reconcile/reconciler.ts";
import { plugPort, unplugPort } from "../../src/store/ports.ts";
import { FakeClock } from "../../src/util/clock.ts";
import type { HostView } from "../../src/reconcile/host-view.ts";
import { bootInstance } from "../../src/store/instances.ts";
import { createNetworks } from "../../src/store/networks.ts";
import { bootParams, memStore, netParams } from "../store/fixtures.ts";

test("a burst of changes is covered by a few passes, the last one seeing the final state; a lone change runs at once", async () => {
  const store = memStore("node-a");
  createNetworks(store, netParams({ label: "one", cidr: "10.0.0.0/22" }));
  const clock = new FakeClock(0);
  const seen: [number, number][] = [];
  // A pass that yields like the real one (links and firewall await processes): 5 ms.
  const firewall = async (view: HostView) => {
    seen.push([clock.now(), view.local.length]);
    await clock.sleep(5);
  };
  const log = createLogger({ write: () => {} });
  const r = new Reconciler(store, parseConfig("").config, { firewall }, log, null, 25, clock);
  // A change every millisecond for 60 ms.
  for (let k = 0; k < 60; k++) {
    bootInstance(store, bootParams({ name: `vm${k}`, networks: ["one"] }));
    await clock.advance(1);
  }
  const done = r.kick();
  await clock.advance(100);
  await done;
  // The first change is handled at once; the changes during a pass wait for the 25 ms pause
  // after it, so one pass covers each pause's worth; the last pass saw all 60. Without the
  // pause a 5 ms pass and a change every millisecond gave a pass per five boots. The kick
  // arrived during the third pass, so it is served by one more pass after the pause.
  expect(seen).toEqual([
    [0, 1],
    [30, 30],
    [60, 60],
    [90, 60],
  ]);
  // After a quiet spell one change is reconciled at once, not after the pause.
  await clock.advance(50);
  const before = seen.length;
  bootInstance(store, bootParams({ name: "late", networks: ["one"] }));
  await clock.settle();
  expect(seen.slice(before)).toEqual([[210, 61]]);
  await clock.advance(40);
  expect(seen.slice(before)).toEqual([[210, 61]]);
  r.stop();
});

test("every() runs a full pass at each period without any change; stop() ends it", async () => {
  const store = memStore("node-a");
  const clock = new FakeClock(0);
  const at: number[] = [];
  const log = createLogger({ write: () => {} });
  const r = new Reconciler(
    store,
    parseConfig("").config,
    { dns: () => void at.push(clock.now()) },
    log,
    null,
    25,
    clock,
  );
  r.every(30_000);
  await clock.advance(29_999);
  expect(at).toEqual([]);
  await clock.advance(60_001);
  expect(at).toEqual([30_000, 60_000, 90_000]);
  expect(r.status.lastAt).toBe(90_000);
  r.stop();
  await clock.advance(60_000);
  expect(at).toEqual([30_000, 60_000, 90_000]);
});

test("a failing step holds back no other step; its failure is named until it succeeds again", async () => {
  const store = memStore("node-a");
  createNetworks(store, netParams({ label: "one", cidr: "10.0.0.0/24" }));
  const ran: string[] = [];
  let linksFail = true;
  const r = new Reconciler(
    store,
    parseConfig("").config,
    {
      links: async () => {
        ran.push("links");
        if (linksFail) throw new Error('Cannot find device "eth9"');
      },
      dhcp: () => void ran.push("dhcp"),
      ra: () => {
        ran.push("ra");
        throw new Error("no such bridge");
      },
      metadata: () => void ran.push("metadata"),
      firewall: async () => void ran.push("firewall"),
    },
    createLogger({ write: () => {} }),
    null,
    0,
  );
  const steps: [string, string | null][] = [];
  r.onStep = (step, err) => steps.push([step, err]);
  await r.kick();
  expect(ran).toEqual(["links", "dhcp", "ra", "metadata", "firewall"]);
  expect(r.status.failing).toEqual({ links: 'Cannot find device "eth9"', ra: "no such bridge" });
  expect(r.status.lastError).toBe('links: Cannot find device "eth9"; ra: no such bridge');
  expect(steps).toEqual([
    ["view", null],
    ["links", 'Cannot find device "eth9"'],
    ["dhcp", null],
    ["ra", "no such bridge"],
    ["metadata", null],
    ["dns", null],
    ["firewall", null],
  ]);
  linksFail = false;
  await r.kick();
  expect(r.status.failing).toEqual({ ra: "no such bridge" });
  r.stop();
});

test("a pass caused only by port plugs runs the rules alone; any other change, a periodic pass or a failing step runs more", async () => {
  const store = memStore("node-a");
  createNetworks(store, netParams({ label: "one", cidr: "10.0.0.0/24" }));
  const inst = bootInstance(store, bootParams({ name: "vm1", networks: ["one"] }));
  const ran: string[] = [];
  let dhcpFails = false;
  const r = new Reconciler(
    store,
    parseConfig("").config,
    {
      links: async () => void ran.push("links"),
      dhcp: () => {
        ran.push("dhcp");
        if (dhcpFails) throw new Error("bad host table");
      },
      metadata: () => void ran.push("metadata"),
      dns: () => void ran.push("dns"),
      firewall: async (v) => void ran.push(`firewall:${[...v.ports.values()].join(",")}`),
    },
    createLogger({ write: () => {} }),
    null,
    0,
  );
  await r.kick();
  ran.length = 0;
  plugPort(store, inst.uuid, { port: "tap1" });
  await r.applied();
  expect(ran).toEqual(["firewall:tap1"]);
  // A change of anything else runs every step.
  ran.length = 0;
  bootInstance(store, bootParams({ name: "vm2", networks: ["one"] }));
  await r.applied();
  expect(ran).toEqual(["links", "dhcp", "metadata", "dns", "firewall:tap1"]);
  // A step that failed is retried by the next pass, whatever caused it.
  dhcpFails = true;
  await r.kick();
  dhcpFails = false;
  ran.length = 0;
  unplugPort(store, inst.uuid);
  await r.applied();
  expect(ran).toEqual(["dhcp", "firewall:"]);
  expect(r.status.failing).toEqual({});
  r.stop();
});

test("stepsFor: only port events narrow a pass", () => {
  const port = { entity: "vif_port", op: "put", key: "v1", remote: false } as const;
  const vif = { entity: "vif", op: "put", key: "v1", remote: false } as const;
  expect([...stepsFor([port], {})]).toEqual(["view", "firewall"]);
  expect([...stepsFor([port], { dns: "x" })]).toEqual(["view", "firewall", "dns"]);
  expect(stepsFor([port, vif], {}).size).toBe(7);
  expect(stepsFor([], {}).size).toBe(7);
});
