import { describe, expect, test } from "bun:test";
import { createAdminApp, type AdminDeps } from "../../src/api/app.ts";
import { decodeWarnings, WARNING_HEADER } from "../../src/api/warnings.ts";
import { createLogger } from "../../src/log.ts";
import { defaultConfig } from "../../src/config/load.ts";
import { memStore, snapshot } from "../store/fixtures.ts";

function setup(deps: Partial<AdminDeps> = {}) {
  const store = memStore();
  const app = createAdminApp({ store, config: defaultConfig(), ...deps });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await app.request(path, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    return {
      status: res.status,
      json: (await res.json()) as any,
      warnings: decodeWarnings(res.headers.get(WARNING_HEADER)),
    };
  };
  return { store, call };
}

describe("admin API", () => {
  test("an unexpected failure answers 500 with the error and is logged with its path", async () => {
    const logged: string[] = [];
    const { call } = setup({
      log: createLogger({ write: (l) => logged.push(l) }),
      dataplaneShow: async () => {
        throw new Error("nft vanished");
      },
    });
    const r = await call("GET", "/v1/dataplane");
    expect([r.status, r.json]).toEqual([500, { error: "internal error: Error: nft vanished", field: null }]);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain('level=error msg="admin api failure" path=/v1/dataplane err="Error: nft vanished"');
  });

  test("network-create fills defaults from the config and lists the network", async () => {
    const { call } = setup();
    const r = await call("POST", "/v1/networks", { label: "private", fixed_range_v4: "10.0.0.0/24" });
    expect(r.status).toBe(201);
    expect(r.json[0]).toMatchObject({
      label: "private",
      bridge: "br100",
      dns1: "8.8.4.4",
      gateway: "10.0.0.1",
      multiHost: true,
    });
    expect((await call("GET", "/v1/networks")).json.map((n: { label: string }) => n.label)).toEqual(["private"]);
    expect((await call("GET", "/v1/networks/private")).json.cidr).toBe("10.0.0.0/24");
  });

  test("errors are {error, field} with 4xx codes and the store stays unchanged", async () => {
    const { store, call } = setup();
    await call("POST", "/v1/networks", { label: "private", fixed_range_v4: "10.0.0.0/24" });
    const before = snapshot(store);
    const cases: [string, string, unknown, number, string | null][] = [
      ["POST", "/v1/networks", { label: "b", fixed_range_v4: "10.0.0.0/25" }, 409, "fixed_range_v4"],
      ["POST", "/v1/networks", { label: "b", fixed_range_v4: "10.1.0.0/24", mtu: 20 }, 400, "mtu"],
      ["POST", "/v1/networks", { label: "b", fixed_range_v4: "10.1.0.0/24", colour: "red" }, 400, null],
      ["POST", "/v1/networks", "{not json", 400, null],
      ["POST", "/v1/instances", { name: "x", networks: ["nope"] }, 404, "network"],
      ["POST", "/v1/instances", { name: "x", user_data: Buffer.alloc(70000).toString("base64") }, 400, "user_data"],
      ["POST", "/v1/instances", { name: "x", macs: ["zz:16:3e:00:00:01"] }, 400, "mac"],
      ["POST", "/v1/fixed-ips/10.0.9.9/reserve", undefined, 404, "address"],
      ["POST", "/v1/keypairs", { name: "k", public_key: "not a key" }, 400, "public_key"],
      ["DELETE", "/v1/instances/ghost", undefined, 404, "instance"],
      [
        "POST",
        "/v1/secgroups/default/rules",
        { ip_protocol: "tcp", from_port: 1, to_port: 70000, cidr: "0.0.0.0/0" },
        400,
        "to_port",
      ],
      [
        "POST",
        "/v1/secgroups/ghosts/rules",
        { ip_protocol: "tcp", from_port: 22, to_port: 22, cidr: "0.0.0.0/0" },
        404,
        "group",
      ],
    ];
    for (const [method, path, body, status, field] of cases) {
      const r = await call(method, path, body);
      expect([path, r.status]).toEqual([path, status]);
      expect(typeof r.json.error).toBe("string");
      if (field !== null) expect(r.json.field).toBe(field);
      expect(snapshot(store)).toBe(before);
    }
  });

  test("every project has its default security group before any boot: rules can be added, listed and deleted", async () => {
    const { call } = setup();
    expect((await call("GET", "/v1/secgroups")).json.map((g: { name: string }) => g.name)).toEqual(["default"]);
    const add = await call("POST", "/v1/secgroups/default/rules", {
      ip_protocol: "icmp",
      from_port: -1,
      to_port: -1,
      cidr: "0.0.0.0/0",
    });
    expect(add.status).toBe(201);
    expect(
      (await call("GET", "/v1/secgroups/default/rules")).json.map((r: { protocol: string }) => r.protocol),
    ).toEqual(["icmp"]);
    // Another project's default group exists too, separate and empty.
    expect((await call("GET", "/v1/secgroups/default/rules?project_id=demo")).json).toEqual([]);
    expect(
      (
        await call("POST", "/v1/secgroups/default/rules/delete", {
          ip_protocol: "icmp",
          from_port: -1,
          to_port: -1,
          cidr: "0.0.0.0/0",
        })
      ).status,
    ).toBe(200);
    // A boot afterwards uses that same group, not a second one.
    await call("POST", "/v1/networks", { label: "private", fixed_range_v4: "10.0.0.0/24" });
    expect((await call("POST", "/v1/instances", { name: "vm1" })).status).toBe(201);
    expect((await call("GET", "/v1/secgroups?project_id=admin")).json).toHaveLength(1);
  });

  test("input refused at the door: addresses, interface names, overlapping ranges; one line naming the field, store unchanged", async () => {
    // This host: 192.0.2.10/24 on eth0 (default gateway 192.0.2.1), 2001:db8:1::10/64 on eth1,
    // and a bridge of its own (libvirt's virbr0).
    const hostSubnets = () => [
      { iface: "eth0", address: "192.0.2.10", cidr: "192.0.2.0/24", gateways: ["192.0.2.1"] },
      { iface: "eth1", address: "2001:db8:1::10", cidr: "2001:db8:1::/64" },
      { iface: "virbr0", address: "192.168.122.1", cidr: "192.168.122.0/24", bridge: true },
    ];
    const { store, call } = setup({ hostSubnets });
    expect((await call("POST", "/v1/networks", { label: "private", fixed_range_v4: "10.0.0.0/24" })).status).toBe(201);
    expect((await call("POST", "/v1/floating-ranges", { pool: "nova", ip_range: "203.0.113.0/29" })).status).toBe(201);
    const before = snapshot(store);
    const net = (extra: object) => ({ label: "b", fixed_range_v4: "10.1.0.0/24", ...extra });
    const cases: [string, unknown, number, string, RegExp][] = [
      ["/v1/networks", net({ dns1: "notanip" }), 400, "dns1", /--dns1 notanip is not an IPv4 or IPv6 address/],
      ["/v1/networks", net({ dns2: "8.8.8" }), 400, "dns2", /--dns2 8\.8\.8 is not/],
      ["/v1/networks", net({ gateway: "fd00::1" }), 400, "gateway", /--gateway fd00::1 is not an IPv4 address/],
      ["/v1/networks", net({ dhcp_server: "x" }), 400, "dhcp_server", /--dhcp-server x is not an IPv4 address/],
      [
        "/v1/networks",
        net({ fixed_range_v6: "fd00:9::/64", gateway_v6: "10.1.0.1" }),
        400,
        "gateway_v6",
        /--gateway-v6 10\.1\.0\.1 is not an IPv6 address/,
      ],
      [
        "/v1/networks",
        net({ fixed_range_v6: "fd00:9::/64", gateway_v6: "fd00:8::1" }),
        400,
        "gateway_v6",
        /outside --fixed-range-v6/,
      ],
      [
        "/v1/networks",
        net({ bridge: 'b"r' }),
        400,
        "bridge",
        /bridge "b\\"r" is not a valid interface name: 1-15 bytes/,
      ],
      ["/v1/networks", net({ bridge: "a-bridge-name-too-long" }), 400, "bridge", /not a valid interface name/],
      ["/v1/networks", net({ bridge: ".." }), 400, "bridge", /not a valid interface name/],
      ["/v1/networks", net({ bridge_interface: "eth0:1" }), 400, "bridge_interface", /not a valid interface name/],
      [
        "/v1/networks",
        net({ fixed_range_v4: "192.0.2.0/25" }),
        409,
        "fixed_range_v4",
        /overlaps this host's subnet 192\.0\.2\.0\/24 on eth0/,
      ],
      [
        "/v1/networks",
        net({ fixed_range_v4: "203.0.113.0/24" }),
        409,
        "fixed_range_v4",
        /contains floating IP 203\.0\.113\.1/,
      ],
      [
        "/v1/networks",
        net({ fixed_range_v6: "2001:db8:1::/64" }),
        409,
        "fixed_range_v6",
        /overlaps this host's subnet 2001:db8:1::\/64 on eth1/,
      ],
      [
        "/v1/floating-ranges",
        { pool: "nova", ip_range: "10.0.0.0/28" },
        409,
        "ip_range",
        /overlaps fixed network private \(10\.0\.0\.0\/24\)/,
      ],
      [
        "/v1/floating-ranges",
        { pool: "nova", ip_range: "10.0.0.1" },
        409,
        "ip_range",
        /overlaps fixed network private/,
      ],
      [
        "/v1/floating-ranges",
        { pool: "other", ip_range: "203.0.113.4/30" },
        409,
        "ip_range",
        /overlaps pool nova: floating IP 203\.0\.113\.5 already exists/,
      ],
      [
        "/v1/floating-ranges",
        { pool: "nova", ip_range: "192.0.2.8/29" },
        409,
        "ip_range",
        /contains this host's own address 192\.0\.2\.10 on eth0/,
      ],
      [
        "/v1/floating-ranges",
        { pool: "nova", ip_range: "192.0.2.1" },
        409,
        "ip_range",
        /^--ip_range 192\.0\.2\.1 contains 192\.0\.2\.1, the gateway of this host's subnet 192\.0\.2\.0\/24 on eth0$/,
      ],
      [
        "/v1/floating-ranges",
        { pool: "nova", ip_range: "192.0.2.0" },
        409,
        "ip_range",
        /^--ip_range 192\.0\.2\.0 contains 192\.0\.2\.0, the network address of this host's subnet 192\.0\.2\.0\/24 on eth0$/,
      ],
      [
        "/v1/floating-ranges",
        { pool: "nova", ip_range: "192.0.2.252/30" },
        409,
        "ip_range",
        /^--ip_range 192\.0\.2\.252\/30 contains 192\.0\.2\.255, the broadcast address of this host's subnet 192\.0\.2\.0\/24 on eth0$/,
      ],
      [
        "/v1/floating-ranges",
        { pool: "nova", ip_range: "192.168.122.128/28" },
        409,
        "ip_range",
        /^--ip_range 192\.168\.122\.128\/28 overlaps bridge virbr0's subnet 192\.168\.122\.0\/24 on this host$/,
      ],
      [
        "/v1/floating-ranges",
        { pool: "nova", ip_range: "198.51.100.0/29", interface: "eth 0" },
        400,
        "interface",
        /not a valid interface name/,
      ],
    ];
    for (const [path, b, status, field, msg] of cases) {
      const r = await call("POST", path, b);
      expect([JSON.stringify(b), r.status, r.json.field]).toEqual([JSON.stringify(b), status, field]);
      expect(r.json.error).toMatch(msg);
      expect(r.json.error).not.toContain("\n");
      expect(snapshot(store)).toBe(before);
    }
    // A floating pool inside the public interface's subnet, clear of the host's own address, is nova's usual layout.
    expect((await call("POST", "/v1/floating-ranges", { pool: "nova", ip_range: "192.0.2.128/28" })).status).toBe(201);
  });

  test("doubtful but valid requests are applied, answered with warnings and logged", async () => {
    const logged: string[] = [];
    const { call } = setup({ log: createLogger({ write: (l) => logged.push(l) }) });
    const a = await call("POST", "/v1/networks", { label: "a", fixed_range_v4: "10.0.0.0/24" });
    expect([a.status, a.warnings]).toEqual([201, []]);
    const b = await call("POST", "/v1/networks", {
      label: "b",
      fixed_range_v4: "10.1.0.0/24",
      fixed_range_v6: "fd00:2::/64",
      vlan: 42,
    });
    expect(b.status).toBe(201);
    expect(b.warnings).toHaveLength(3);
    expect(b.warnings[0]).toMatch(/--fixed-range-v6 fd00:2::\/64 is stored but not served: use_ipv6 = false/);
    expect(b.warnings[1]).toMatch(/--vlan 42 is stored but no VLAN device is made: network_manager = flatdhcp/);
    expect(b.warnings[2]).toMatch(/network b shares bridge br100 with a because --bridge was not given/);
    const c = await call("POST", "/v1/networks", { label: "c", fixed_range_v4: "10.2.0.0/24", bridge: "br101" });
    expect([c.status, c.warnings]).toEqual([201, []]);
    expect(logged).toHaveLength(3);
    expect(logged[1]).toMatch(
      /level=warn msg="admin request accepted with a warning" path=\/v1\/networks warning="--vlan 42 is stored/,
    );
  });

  test("boot with user data and meta, show with ports, delete", async () => {
    const { call } = setup();
    await call("POST", "/v1/networks", {
      label: "private",
      fixed_range_v4: "10.0.0.0/24",
      fixed_range_v6: "fd00:5::/64",
    });
    const r = await call("POST", "/v1/instances", {
      name: "vm1",
      user_data: Buffer.from("#!/bin/sh\necho hi\n").toString("base64"),
      meta: { role: "web" },
      macs: ["fa:16:3e:00:00:09"],
    });
    expect(r.status).toBe(201);
    expect(r.json.userDataBytes).toBe(18);
    expect(r.json.meta).toEqual({ role: "web" });
    expect(r.json.ports[0]).toMatchObject({
      mac: "fa:16:3e:00:00:09",
      network: "private",
      address: "10.0.0.3",
      addressV6: "fd00:5::f816:3eff:fe00:9",
    });
    expect((await call("GET", "/v1/instances/vm1")).json.uuid).toBe(r.json.uuid);
    expect((await call("DELETE", "/v1/instances/vm1")).status).toBe(200);
    expect((await call("GET", "/v1/instances")).json).toEqual([]);
  });

  test("unknown paths answer 404 JSON", async () => {
    const { call } = setup();
    const r = await call("GET", "/v1/nothing");
    expect(r.status).toBe(404);
    expect(r.json.error).toContain("no such API path");
  });
});

describe("auto_assign_floating_ip", () => {
  test("a booted instance gets a floating IP from the default pool; none free fails the boot and leaves nothing", async () => {
    const store = memStore();
    const config = { ...defaultConfig(), autoAssignFloatingIp: true };
    const app = createAdminApp({ store, config });
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await app.request(path, {
        method,
        headers: { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, json: (await res.json()) as any };
    };
    await call("POST", "/v1/networks", { label: "private", fixed_range_v4: "10.0.0.0/24" });
    await call("POST", "/v1/floating-ranges", { pool: "nova", ip_range: "203.0.113.5" });
    const a = await call("POST", "/v1/instances", { name: "a" });
    expect(a.status).toBe(201);
    expect(a.json.floatingIps).toEqual(["203.0.113.5"]);
    const b = await call("POST", "/v1/instances", { name: "b" });
    expect(b.status).toBe(409);
    expect(b.json.error).toContain("auto_assign_floating_ip: no more floating IPs in pool nova");
    expect((await call("GET", "/v1/instances")).json.map((i: { name: string }) => i.name)).toEqual(["a"]);
    // Deleting the instance releases its auto-assigned address back to the pool.
    await call("DELETE", "/v1/instances/a");
    expect((await call("GET", "/v1/floating-ips")).json[0]).toMatchObject({
      address: "203.0.113.5",
      projectId: null,
      instanceUuid: null,
    });
  });
});

describe("ports", () => {
  test("boot --port and plug bind a port; a port of another VIF, a bad name or an unknown MAC are refused and change nothing", async () => {
    const { store, call } = setup();
    await call("POST", "/v1/networks", { label: "a", fixed_range_v4: "10.0.0.0/24", bridge: "bra" });
    await call("POST", "/v1/networks", { label: "b", fixed_range_v4: "10.1.0.0/24", bridge: "brb" });
    const one = await call("POST", "/v1/instances", { name: "one", networks: ["a"], ports: ["tap1"] });
    expect(one.status).toBe(201);
    expect(one.json.ports.map((p: { port: string }) => p.port)).toEqual(["tap1"]);
    const two = await call("POST", "/v1/instances", { name: "two", networks: ["a", "b"] });
    expect(two.json.ports.map((p: { port: string | null }) => p.port)).toEqual([null, null]);
    const before = snapshot(store);
    const cases: [string, unknown, number, string][] = [
      ["/v1/instances/two/plug", { port: "tap1", network: "a" }, 409, "port"],
      ["/v1/instances/two/plug", { port: "tap2" }, 400, "port"],
      ["/v1/instances/two/plug", { port: "bad name", network: "a" }, 400, "port"],
      ["/v1/instances/two/plug", { port: "tap2", mac: "fa:16:3e:99:99:99" }, 400, "mac"],
      ["/v1/instances/two/plug", { port: "tap2", network: "nope" }, 404, "network"],
      ["/v1/instances/ghost/plug", { port: "tap2" }, 404, "instance"],
      ["/v1/instances/two/unplug", {}, 409, "port"],
      ["/v1/instances/one/unplug", { port: "tap9" }, 409, "port"],
    ];
    for (const [path, body, status, field] of cases) {
      const r = await call("POST", path, body);
      expect([path, JSON.stringify(body), r.status, r.json.field]).toEqual([path, JSON.stringify(body), status, field]);
      expect(snapshot(store)).toBe(before);
    }
    const boot = await call("POST", "/v1/instances", { name: "three", networks: ["a"], ports: ["tap1"] });
    expect([boot.status, boot.json.field]).toEqual([409, "port"]);
    expect((await call("GET", "/v1/instances")).json.map((i: { name: string }) => i.name)).toEqual(["one", "two"]);
    const p = await call("POST", "/v1/instances/two/plug", { port: "tap2", network: "b" });
    expect(p.json.ports.map((x: { port: string | null }) => x.port)).toEqual([null, "tap2"]);
    const u = await call("POST", "/v1/instances/one/unplug", {});
    expect([u.status, u.json.unplugged]).toEqual([200, [{ port: "tap1", mac: one.json.ports[0].mac }]]);
    // The name is free again once its VIF is unplugged or deleted.
    expect((await call("POST", "/v1/instances/two/plug", { port: "tap1", network: "a" })).status).toBe(200);
    await call("DELETE", "/v1/instances/two");
    expect((await call("POST", "/v1/instances/one/plug", { port: "tap1" })).status).toBe(200);
  });

  test("a plug waits for the dataplane and fails with its reason", async () => {
    const store = memStore();
    let waited = 0;
    const app = createAdminApp({
      store,
      config: defaultConfig(),
      portsApplied: async () => (++waited > 1 ? "nft -f - exited 1: boom" : null),
    });
    const call = (path: string, body: unknown) =>
      app.request(path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    await call("/v1/networks", { label: "a", fixed_range_v4: "10.0.0.0/24" });
    expect((await call("/v1/instances", { name: "one", ports: ["tap1"] })).status).toBe(201);
    const r = await call("/v1/instances/one/unplug", {});
    expect([r.status, ((await r.json()) as { error: string }).error]).toEqual([
      503,
      "the rules for the port are not applied: nft -f - exited 1: boom",
    ]);
    expect(waited).toBe(2);
  });
});
