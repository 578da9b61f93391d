/**
 * POST /v1/instances/:ref/migrate on the new home: the move, its answer, and the gateway
 * announcement a guest needs when every host shares the gateway address.
 */
import { describe, expect, test } from "bun:test";
import { createAdminApp } from "../../src/api/app.ts";
import type { ClusterAgent } from "../../src/agent/cluster.ts";
import { defaultConfig } from "../../src/config/load.ts";
import { createNetworks } from "../../src/store/networks.ts";
import { bootInstance } from "../../src/store/instances.ts";
import { bootParams, memStore, netParams, snapshot } from "../store/fixtures.ts";

type Answer = { host: string; error: string; migrated: { moved: boolean } & Record<string, unknown> };

/** Host hb's API, holding vm1 as replicated from its home ha. */
function setup(share: boolean) {
  const store = memStore("hb");
  createNetworks(store, netParams({ shareAddress: share, dhcpServer: share ? "10.0.0.1" : null }));
  const inst = bootInstance(store, bootParams());
  store.db.query("UPDATE instances SET host = 'ha' WHERE uuid = ?").run(inst.uuid);
  store.db.query("UPDATE vifs SET host = 'ha' WHERE instance_uuid = ?").run(inst.uuid);
  const announced: string[][] = [];
  const cluster = {
    members: () => [
      { id: "ha", state: "alive" },
      { id: "hb", state: "alive" },
    ],
  } as unknown as ClusterAgent;
  const app = createAdminApp({
    store,
    config: defaultConfig(),
    cluster,
    portsApplied: async () => null,
    announce: (...a) => announced.push(a),
  });
  const call = async (path: string, body: unknown) => {
    const res = await app.request(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Answer };
  };
  return { store, call, announced };
}

describe("migrate API", () => {
  test("the new home takes the instance and declares its port; a shared gateway is announced on that port only", async () => {
    const { call, announced } = setup(true);
    const r = await call("/v1/instances/vm1/migrate", { to_host: "hb", port: "tap9" });
    expect(r.status).toBe(200);
    expect(r.json.host).toBe("hb");
    expect(r.json.migrated).toMatchObject({ from: "ha", to: "hb", moved: true, plugged: { port: "tap9" } });
    expect(announced).toEqual([["tap9", "br100", "10.0.0.1"]]);
    // Called again (a repeated hook): nothing moves, nothing is announced again.
    const again = await call("/v1/instances/vm1/migrate", { to_host: "hb", port: "tap9" });
    expect([again.status, again.json.migrated.moved]).toEqual([200, false]);
    expect(announced).toHaveLength(1);
  });

  test("each host's own gateway address (no share_address): nothing to announce", async () => {
    const { call, announced } = setup(false);
    expect((await call("/v1/instances/vm1/migrate", { to_host: "hb", port: "tap9" })).status).toBe(200);
    expect(announced).toEqual([]);
  });

  test("bad bodies are 400 with the field, and change nothing", async () => {
    const { store, call } = setup(true);
    const before = snapshot(store);
    const cases: [unknown, string][] = [
      [{}, "to_host"],
      [{ to_host: "hb", user_data: "***" }, "user_data"],
      [{ to_host: "hb", bogus: 1 }, "bogus"],
      [{ to_host: "hb", port: "bad/port" }, "port"],
    ];
    for (const [body, field] of cases) {
      const r = await call("/v1/instances/vm1/migrate", body);
      expect([r.status, r.json.error]).toEqual([400, expect.stringContaining(field)]);
    }
    expect(snapshot(store)).toBe(before);
  });
});
