/** nova's network-associate-host and network-disassociate: the admin API, and the host as a replicated field. */
import { describe, expect, test } from "bun:test";
import { createAdminApp } from "../../src/api/app.ts";
import { decodeWarnings, WARNING_HEADER } from "../../src/api/warnings.ts";
import { defaultConfig } from "../../src/config/load.ts";
import { validateRow } from "../../src/cluster/sync/schema.ts";
import { getNetwork, listNetworks } from "../../src/store/networks.ts";
import { SqliteReplicaStore } from "../../src/store/replica.ts";
import { memStore, snapshot } from "../store/fixtures.ts";

function setup() {
  const store = memStore("node-a");
  const app = createAdminApp({ store, config: defaultConfig() });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await app.request(path, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return {
      status: res.status,
      json: (await res.json()) as any,
      warnings: decodeWarnings(res.headers.get(WARNING_HEADER)),
    };
  };
  return { store, call };
}

/** A host the cluster knows, as its own row arrives from it. */
function peerHost(store: ReturnType<typeof memStore>, id: string) {
  const row = {
    table: "host" as const,
    key: id,
    origin: id,
    hlc: "000000000000009.00000",
    deleted: false,
    data: { id, hostname: id, address: "192.0.2.9", generation: 1 },
  };
  expect(validateRow(row).ok).toBe(true);
  expect(new SqliteReplicaStore(store).apply(row)).toBe(true);
}

describe("network-associate-host", () => {
  test("a network that is not multi_host gets its host, shown by network-show (serving follows it: test/reconcile/network-host.test.ts)", async () => {
    const { store, call } = setup();
    expect(
      (
        await call("POST", "/v1/networks", {
          label: "single",
          fixed_range_v4: "10.1.0.0/24",
          bridge: "br101",
          multi_host: false,
          project_id: "demo",
        })
      ).status,
    ).toBe(201);
    peerHost(store, "node-b");
    const r = await call("POST", "/v1/networks/single/associate-host", { host: "node-b" });
    expect([r.status, r.json.host]).toEqual([200, "node-b"]);
    expect(r.warnings).toEqual([]);
    expect((await call("GET", "/v1/networks/single")).json.host).toBe("node-b");
    // The node itself is a known host even before the cluster lists it.
    expect((await call("POST", "/v1/networks/single/associate-host", { host: "node-a" })).json.host).toBe("node-a");
  });

  test("unknown network, unknown host, a multi_host network, a bad body: one clear error, store unchanged", async () => {
    const { store, call } = setup();
    await call("POST", "/v1/networks", { label: "multi", fixed_range_v4: "10.0.0.0/24", bridge: "br100" });
    await call("POST", "/v1/networks", {
      label: "single",
      fixed_range_v4: "10.1.0.0/24",
      bridge: "br101",
      multi_host: false,
    });
    const before = snapshot(store);
    const cases: [string, unknown, number, string | null, string][] = [
      ["/v1/networks/nope/associate-host", { host: "node-a" }, 404, "network", "network nope not found"],
      [
        "/v1/networks/single/associate-host",
        { host: "ghost" },
        404,
        "host",
        "host ghost not found; known hosts: node-a",
      ],
      [
        "/v1/networks/multi/associate-host",
        { host: "node-a" },
        409,
        "network",
        "network multi is multi_host: every host serves its own instances; network-associate-host is for a network created with --multi-host F",
      ],
      [
        "/v1/networks/single/associate-host",
        {},
        400,
        "host",
        'host: Invalid key: Expected "host" but received undefined',
      ],
      [
        "/v1/networks/single/associate-host",
        { host: "" },
        400,
        "host",
        "host: Invalid length: Expected >=1 but received 0",
      ],
    ];
    for (const [path, body, status, field, error] of cases) {
      const r = await call("POST", path, body);
      expect([path, r.status, r.json]).toEqual([path, status, { error, field }]);
    }
    expect(snapshot(store)).toBe(before);
  });

  test("network-disassociate forgets project and host; host-only and project-only forget one; nothing to forget is refused", async () => {
    const { store, call } = setup();
    await call("POST", "/v1/networks", {
      label: "single",
      fixed_range_v4: "10.1.0.0/24",
      bridge: "br101",
      multi_host: false,
      project_id: "demo",
    });
    const assoc = () => call("POST", "/v1/networks/single/associate-host", { host: "node-a" });
    await assoc();
    expect((await call("POST", "/v1/networks/single/disassociate", { project: false })).json).toMatchObject({
      projectId: "demo",
      host: null,
    });
    await assoc();
    expect((await call("POST", "/v1/networks/single/disassociate", { host: false })).json).toMatchObject({
      projectId: null,
      host: "node-a",
    });
    // Without a body, as nova: both.
    expect((await call("POST", "/v1/networks/single/disassociate")).json).toMatchObject({
      projectId: null,
      host: null,
    });
    const before = snapshot(store);
    const r = await call("POST", "/v1/networks/single/disassociate");
    expect([r.status, r.json]).toEqual([
      409,
      { error: "network single is not associated with a project or a host", field: "network" },
    ]);
    expect((await call("POST", "/v1/networks/single/disassociate", { project: false })).json.error).toBe(
      "network single is not associated with a host",
    );
    expect((await call("POST", "/v1/networks/single/disassociate", { colour: 1 })).status).toBe(400);
    expect(snapshot(store)).toBe(before);
  });
});

describe("the network's host between peers", () => {
  test("it replicates; an older peer's record without it still applies (no host)", async () => {
    const { store, call } = setup();
    await call("POST", "/v1/networks", {
      label: "single",
      fixed_range_v4: "10.1.0.0/24",
      bridge: "br101",
      multi_host: false,
    });
    await call("POST", "/v1/networks/single/associate-host", { host: "node-a" });
    const a = new SqliteReplicaStore(store);
    const row = a.get("network", getNetwork(store, "single").id)!;
    expect(row.data).toMatchObject({ host: "node-a" });
    const b = memStore("node-b");
    const checked = validateRow(JSON.parse(JSON.stringify(row)));
    expect(checked.ok && new SqliteReplicaStore(b).apply(checked.row)).toBe(true);
    expect(listNetworks(b)).toEqual(listNetworks(store));

    const { host: _, ...old } = row.data!;
    const c = memStore("node-c");
    const olderPeer = validateRow({ ...row, data: old });
    expect(olderPeer.ok).toBe(true);
    expect(olderPeer.ok && new SqliteReplicaStore(c).apply(olderPeer.row)).toBe(true);
    expect(getNetwork(c, "single").host).toBeNull();

    expect(validateRow({ ...row, data: { ...row.data, host: 7 } })).toMatchObject({ ok: false });
  });
});
