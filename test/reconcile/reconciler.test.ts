/** The reconciler turns store changes into passes: at once after a quiet spell, coalesced in a burst. */
import { expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/log.ts";
import { Reconciler, stepsFor } from "../../src/reconcile/reconciler.ts";
import { plugPort, unplugPort } from "../../src/store/ports.ts";
import type { HostView } from "../../src/reconcile/host-view.ts";
import { bootInstance } from "../../src/store/instances.ts";
import { createNetworks } from "../../src/store/networks.ts";
import { bootParams, memStore, netParams } from "../store/fixtures.ts";

test("a burst of changes is covered by a few passes, the last one seeing the final state; a lone change runs at once", async () => {
  const store = memStore("node-a");
  createNetworks(store, netParams({ label: "one", cidr: "10.0.0.0/22" }));
  const seen: number[] = [];
  // A pass that yields like the real one (links and firewall await processes).
  const firewall = async (view: HostView) => {
    seen.push(view.local.length);
    await Bun.sleep(5);
  };
  const r = new Reconciler(store, parseConfig("").config, { firewall }, createLogger({ write: () => {} }), null, 25);
  const t0 = performance.now();
  for (let k = 0; k < 60; k++) {
    bootInstance(store, bootParams({ name: `vm${k}`, networks: ["one"] }));
    await Bun.sleep(1);
  }
  const burstMs = performance.now() - t0;
  await r.kick();
  expect(seen.at(-1)).toBe(60);
  // Passes at most one per pause (25 ms) over the burst, plus the first and the last. Without the
  // pause, a 5 ms pass and a change every ~1 ms gave a pass per three or four boots (17 in ~100 ms).
  expect(seen.length).toBeLessThanOrEqual(Math.ceil(burstMs / 25) + 2);
  // After a quiet spell one change is reconciled at once, not after the pause.
  await Bun.sleep(50);
  const before = seen.length;
  bootInstance(store, bootParams({ name: "late", networks: ["one"] }));
  // The pass starts within the write's change event: it has reached the firewall by the next turn.
  await Bun.sleep(0);
  expect(seen.slice(before)).toEqual([61]);
  await Bun.sleep(40);
  expect(seen.slice(before)).toEqual([61]);
  r.stop();
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
