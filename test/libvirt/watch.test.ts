import { describe, expect, test } from "bun:test";
import { createAdminApp } from "../../src/api/app.ts";
import { defaultConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/log.ts";
import { Registry } from "../../src/metrics.ts";
import { LibvirtWatch, libvirtSocket } from "../../src/libvirt/watch.ts";
import { listTrackedDomains } from "../../src/store/libvirt-domains.ts";
import { memStore } from "../store/fixtures.ts";
import { domainXml, netletMeta, UUID } from "./fixtures.ts";

/** The agent's libvirt reconciler against the real admin API and a scripted libvirt (its virsh answers). */
async function setup() {
  const store = memStore();
  const app = createAdminApp({ store, config: defaultConfig() });
  await app.request("/v1/networks", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ label: "private", fixed_range_v4: "10.0.0.0/24", bridge: "br100" }),
  });
  // `reconnecting`: libvirtd just restarted and has not listed the running domain as running yet.
  const libvirt = { domains: new Map<string, { xml: string; running: boolean; reconnecting?: boolean }>() };
  let now = 1_000_000;
  const reg = new Registry();
  const virsh = async (args: string[]) => {
    if (args[0] === "list")
      return [...libvirt.domains]
        .filter(([, d]) => args.includes("--all") || d.running)
        .map(([u]) => `${u}\n`)
        .join("");
    if (args[0] === "dumpxml") return libvirt.domains.get(args[1])?.xml ?? Promise.reject(new Error("no domain"));
    if (args[0] === "domstate") {
      const d = libvirt.domains.get(args[1]);
      return d ? (d.running || d.reconnecting ? "running\n" : "shut off\n") : Promise.reject(new Error("no domain"));
    }
    throw new Error(`unexpected virsh ${args.join(" ")}`);
  };
  const watch = new LibvirtWatch(store, {
    uri: "test:///",
    pollMs: 1000,
    graceMs: 60_000,
    fetch: app.fetch,
    log: createLogger({ write: () => {} }),
    now: () => now,
    virsh,
    registry: reg,
  });
  const inst = async () => {
    const r = await app.request(`/v1/instances/${UUID}`);
    return r.status === 404 ? null : ((await r.json()) as { ports: { port: string | null; address: string }[] });
  };
  return { store, app, libvirt, watch, inst, reg, tick: (ms: number) => (now += ms) };
}

const live = (tap: string, metadata?: string) =>
  domainXml({
    metadata,
    ifaces: [
      `<interface type='bridge'><mac address='52:54:00:12:34:56'/><source bridge='br100'/><target dev='${tap}'/></interface>`,
    ],
  });

describe("agent reconciliation with libvirt", () => {
  test("a domain that started while the agent was away is registered and its tap plugged at the next pass", async () => {
    const { libvirt, watch, inst } = await setup();
    libvirt.domains.set(UUID, { xml: live("vnet4"), running: true });
    await watch.pass();
    expect((await inst())?.ports.map((p) => p.port)).toEqual(["vnet4"]);
    expect(watch.alarms).toEqual([]);
  });

  test("a running domain libvirtd has not listed as running yet (it is reconnecting) keeps its port", async () => {
    const { libvirt, watch, inst } = await setup();
    libvirt.domains.set(UUID, { xml: live("vnet4"), running: true });
    await watch.pass();
    libvirt.domains.set(UUID, { xml: live("vnet4"), running: false, reconnecting: true });
    await watch.pass();
    expect((await inst())?.ports.map((p) => p.port)).toEqual(["vnet4"]);
  });

  test("a domain stopped while the agent was away has its port withdrawn; the address stays", async () => {
    const { libvirt, watch, inst } = await setup();
    libvirt.domains.set(UUID, { xml: live("vnet4"), running: true });
    await watch.pass();
    const address = (await inst())!.ports[0].address;
    libvirt.domains.set(UUID, { xml: domainXml(), running: false });
    await watch.pass();
    expect((await inst())?.ports.map((p) => [p.port, p.address])).toEqual([[null, address]]);
  });

  test("an undefined domain's instance is deleted after the grace, not before", async () => {
    const { store, libvirt, watch, inst, tick, reg } = await setup();
    libvirt.domains.set(UUID, { xml: live("vnet4"), running: true });
    await watch.pass();
    expect(listTrackedDomains(store).map((t) => t.uuid)).toEqual([UUID]);
    libvirt.domains.delete(UUID);
    await watch.pass();
    tick(59_999);
    await watch.pass();
    expect(await inst()).not.toBeNull();
    tick(1);
    await watch.pass();
    expect(await inst()).toBeNull();
    expect(listTrackedDomains(store)).toEqual([]);
    expect(reg.render()).toContain("netlet_libvirt_undefined_deleted_total 1");
  });

  test("instances netlet did not get from libvirt are never deleted; domains it cannot register are alarms", async () => {
    const { app, libvirt, watch, tick, reg } = await setup();
    await app.request("/v1/instances", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "booted" }),
    });
    const other =
      "<interface type='bridge'><mac address='52:54:00:00:00:07'/><source bridge='br100'/><target dev='vnet9'/></interface>";
    libvirt.domains.set("11111111-2222-4333-8444-555555555555", {
      xml: domainXml({
        name: "bad",
        uuid: "11111111-2222-4333-8444-555555555555",
        ifaces: [other],
        metadata: netletMeta("<netlet:network label='nope'/>"),
      }),
      running: true,
    });
    await watch.pass();
    expect(watch.alarms).toEqual(["libvirt: domain bad: netlet metadata: <network label='nope'>: no such network"]);
    expect(reg.render()).toContain("netlet_libvirt_alarms 1");
    tick(3_600_000);
    await watch.pass();
    expect((await app.request("/v1/instances/booted")).status).toBe(200);
    expect(libvirtSocket("qemu:///system")).toBe("/run/libvirt/libvirt-sock");
    expect(libvirtSocket("qemu:///system?socket=/tmp/x%20y/sock")).toBe("/tmp/x y/sock");
  });
});
