import { describe, expect, test } from "bun:test";
import { HookError, parseDomain } from "../../src/libvirt/domain.ts";
import { planHook } from "../../src/libvirt/plan.ts";
import { apiSetup, domainXml, KEY, netletMeta, UUID } from "./fixtures.ts";

async function withNetwork() {
  const s = apiSetup();
  await s.call("POST", "/v1/networks", { label: "private", fixed_range_v4: "10.0.0.0/24", bridge: "br100" });
  return s;
}

describe("libvirt hook plan against the admin API", () => {
  test("prepare registers the domain as an instance: its uuid, name, libvirt's MAC and an address before the first DHCP packet", async () => {
    const { call, hook } = await withNetwork();
    const plan = await hook("prepare", domainXml());
    expect(plan.map((c) => `${c.method} ${c.path}`)).toEqual(["POST /v1/instances"]);
    const inst = (await call("GET", `/v1/instances/${UUID}`)).json;
    expect(inst).toMatchObject({
      uuid: UUID,
      name: "vm1",
      hostname: "vm1",
      projectId: "admin",
      securityGroups: ["default"],
    });
    expect(inst.ports).toHaveLength(1);
    expect(inst.ports[0]).toMatchObject({ mac: "52:54:00:12:34:56", network: "private" });
    expect(inst.ports[0].address).toMatch(/^10\.0\.0\.\d+$/);
  });

  test("a second start of an unchanged domain keeps the instance and its address, and writes nothing", async () => {
    const { call, hook, store } = await withNetwork();
    await hook("prepare", domainXml());
    const before = (await call("GET", `/v1/instances/${UUID}`)).json;
    const events: string[] = [];
    store.subscribe((es) => events.push(...es.map((e) => `${e.entity} ${e.op}`)));
    expect((await hook("start", domainXml())).map((c) => c.method)).toEqual(["PATCH"]);
    expect(events).toEqual([]);
    const after = (await call("GET", `/v1/instances/${UUID}`)).json;
    expect(after.ports[0].address).toBe(before.ports[0].address);
    expect(after.hlc).toBe(before.hlc);
  });

  test("netlet metadata: inline key, user data, security group, meta, project and a fixed IP reach the instance", async () => {
    const { call, hook } = await withNetwork();
    await call("POST", "/v1/secgroups", { name: "web" });
    const md = netletMeta(`<netlet:key>${KEY}</netlet:key><netlet:user-data>#cloud-config</netlet:user-data>
      <netlet:security-group>web</netlet:security-group><netlet:meta key='role'>db</netlet:meta><netlet:network label='private' fixed-ip='10.0.0.77'/>`);
    await hook("prepare", domainXml({ metadata: md }));
    const inst = (await call("GET", `/v1/instances/${UUID}`)).json;
    expect(inst).toMatchObject({
      keyName: "vm1",
      keyData: KEY,
      securityGroups: ["web"],
      meta: { role: "db" },
      userDataBytes: 13,
    });
    expect(inst.ports[0].address).toBe("10.0.0.77");
  });

  test("an edited definition updates the instance at the next start; a changed MAC re-registers it", async () => {
    const { call, hook } = await withNetwork();
    await hook("prepare", domainXml());
    await hook(
      "prepare",
      domainXml({ name: "vm1-renamed", metadata: netletMeta("<netlet:meta key='a'>b</netlet:meta>") }),
    );
    expect((await call("GET", `/v1/instances/${UUID}`)).json).toMatchObject({ name: "vm1-renamed", meta: { a: "b" } });
    const other = "<interface type='bridge'><mac address='52:54:00:00:00:99'/><source bridge='br100'/></interface>";
    expect((await hook("prepare", domainXml({ ifaces: [other] }))).map((c) => c.method)).toEqual(["DELETE", "POST"]);
    expect((await call("GET", `/v1/instances/${UUID}`)).json.ports.map((p: { mac: string }) => p.mac)).toEqual([
      "52:54:00:00:00:99",
    ]);
  });

  test("domains on other bridges are not netlet's: no call, no instance", async () => {
    const { call, hook } = await withNetwork();
    const plan = await hook(
      "prepare",
      domainXml({
        ifaces: ["<interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='virbr0'/></interface>"],
      }),
    );
    expect(plan).toEqual([]);
    expect((await call("GET", "/v1/instances")).json).toEqual([]);
  });

  test("started declares the tap of the live XML as the VIF's port; stopped withdraws it; no tap is a clear error", async () => {
    const { hook, call } = await withNetwork();
    await hook("prepare", domainXml());
    const nets = (await call("GET", "/v1/networks")).json;
    const inst = (await call("GET", `/v1/instances/${UUID}`)).json;
    const live = domainXml({
      ifaces: [
        "<interface type='bridge'><mac address='52:54:00:12:34:56'/><source bridge='br100'/><target dev='vnet7'/></interface>",
      ],
    });
    const started = planHook("started", parseDomain(live), nets, inst);
    expect(started.at(-1)).toEqual({
      method: "POST",
      path: `/v1/instances/${UUID}/plug`,
      body: { port: "vnet7", mac: "52:54:00:12:34:56" },
    });
    await hook("started", live);
    const plugged = (await call("GET", `/v1/instances/${UUID}`)).json;
    expect(plugged.ports.map((p: { port: string | null; address: string }) => [p.port, p.address])).toEqual([
      ["vnet7", inst.ports[0].address],
    ]);
    expect(planHook("stopped", parseDomain(live), nets, inst)).toEqual([
      { method: "POST", path: `/v1/instances/${UUID}/unplug`, body: { port: "vnet7" }, allowMissing: true },
    ]);
    await hook("stopped", live);
    await hook("release", live); // already unplugged: fine
    const stopped = (await call("GET", `/v1/instances/${UUID}`)).json;
    expect(stopped.ports.map((p: { port: string | null; address: string }) => [p.port, p.address])).toEqual([
      [null, inst.ports[0].address],
    ]);
    expect(planHook("release", parseDomain(live), nets, null)).toEqual([]);
    expect(() => planHook("started", parseDomain(domainXml()), nets, inst)).toThrow(
      "interface 52:54:00:12:34:56 has no <target dev> in the live XML",
    );
  });

  test("migrate on the target moves the instance there; the source's stop then leaves the new home's ports alone", async () => {
    const { hook, call } = await withNetwork();
    await hook("prepare", domainXml());
    const nets = (await call("GET", "/v1/networks")).json;
    const inst = (await call("GET", `/v1/instances/${UUID}`)).json;
    const dom = parseDomain(domainXml());
    expect(planHook("migrate", dom, nets, { ...inst, host: "ha" }, "hb")).toEqual([
      { method: "POST", path: `/v1/instances/${UUID}/migrate`, body: { to_host: "hb" } },
    ]);
    // Already here (a repeated call), or unknown here (registered as at prepare).
    expect(planHook("migrate", dom, nets, { ...inst, host: "hb" }, "hb")).toEqual([]);
    expect(planHook("migrate", dom, nets, null, "hb")[0]).toMatchObject({ method: "POST", path: "/v1/instances" });
    expect(planHook("stopped", dom, nets, { ...inst, host: "hb" }, "ha")).toEqual([]);
  });

  test("metadata that cannot be honoured refuses the start with one line, and changes nothing", async () => {
    const { call, hook } = await withNetwork();
    await call("POST", "/v1/networks", { label: "other", fixed_range_v4: "10.9.0.0/24", bridge: "br200" });
    const cases: [string, string][] = [
      [
        netletMeta("<netlet:network label='nope'/>"),
        "domain vm1: netlet metadata: <network label='nope'>: no such network",
      ],
      [
        netletMeta("<netlet:network label='other'/>"),
        "network other is on bridge br200, but interface 1 (52:54:00:12:34:56) is on br100",
      ],
      [
        netletMeta("<netlet:network label='private'/><netlet:network label='other'/>"),
        "names 2 network(s) but only 1 interface(s) are on a netlet bridge",
      ],
    ];
    for (const [md, want] of cases) {
      const e = await hook("prepare", domainXml({ metadata: md })).catch((x) => x);
      expect(e).toBeInstanceOf(HookError);
      expect(e.message).toContain(want);
    }
    const api = await hook(
      "prepare",
      domainXml({ metadata: netletMeta("<netlet:security-group>ghost</netlet:security-group>") }),
    ).catch((x) => x);
    expect(api.message).toContain("ghost");
    expect((await call("GET", "/v1/instances")).json).toEqual([]);
  });

  test("two networks on one bridge: the metadata names the one, else the start is refused with how to fix it", async () => {
    const { call, hook } = await withNetwork();
    await call("POST", "/v1/networks", { label: "second", fixed_range_v4: "10.1.0.0/24", bridge: "br100" });
    const e = await hook("prepare", domainXml()).catch((x) => x);
    expect(e.message).toBe(
      "domain vm1: bridge br100 carries networks private, second: name one with <netlet:network label='…'/> in the domain's netlet metadata",
    );
    await hook("prepare", domainXml({ metadata: netletMeta("<netlet:network label='second'/>") }));
    expect((await call("GET", `/v1/instances/${UUID}`)).json.ports[0].network).toBe("second");
  });

  test("a tap name libvirt reuses while a stale binding holds it moves to the domain that has it now", async () => {
    const { hook, call } = await withNetwork();
    const a = domainXml({
      name: "a",
      ifaces: [
        "<interface type='bridge'><mac address='52:54:00:00:00:0a'/><source bridge='br100'/><target dev='vnet0'/></interface>",
      ],
    });
    const bUuid = "0c0ffee0-1111-4222-8333-44445555bbbb";
    const b = domainXml({
      name: "b",
      uuid: bUuid,
      ifaces: [
        "<interface type='bridge'><mac address='52:54:00:00:00:0b'/><source bridge='br100'/><target dev='vnet0'/></interface>",
      ],
    });
    await hook("started", a);
    // a's domain stopped without its hook reaching the agent; libvirt gives vnet0 to b.
    await hook("started", b);
    expect((await call("GET", `/v1/instances/${UUID}`)).json.ports[0].port).toBeNull();
    expect((await call("GET", `/v1/instances/${bUuid}`)).json.ports[0].port).toBe("vnet0");
  });

  test("type='network': nothing at prepare (only the network's name is known), registered at start where libvirt names the bridge", async () => {
    const { hook, call } = await withNetwork();
    const md = netletMeta("<netlet:meta key='a'>b</netlet:meta>");
    const atPrepare = domainXml({
      metadata: md,
      ifaces: ["<interface type='network'><mac address='52:54:00:12:34:56'/><source network='nvbr'/></interface>"],
    });
    expect(await hook("prepare", atPrepare)).toEqual([]);
    const atStart = domainXml({
      metadata: md,
      ifaces: [
        "<interface type='bridge'><mac address='52:54:00:12:34:56'/><source network='nvbr' portid='9d748d49-4de8-45cb-a2cb-712048215094' bridge='br100'/><target dev='vnet0'/></interface>",
      ],
    });
    await hook("start", atStart);
    await hook("started", atStart);
    expect((await call("GET", `/v1/instances/${UUID}`)).json).toMatchObject({
      meta: { a: "b" },
      ports: [{ mac: "52:54:00:12:34:56", port: "vnet0" }],
    });
  });
});
