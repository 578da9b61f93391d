/**
 * The admin API's one boot path with the cluster's Allocator (a host of a simulated cluster,
 * over virtual time): the addresses the IPAM agreed are the ones the store records, a refused
 * boot gives them back, and a delete releases them.
 */
import { describe, expect, test } from "bun:test";
import { createAdminApp } from "../../src/api/app.ts";
import { defaultConfig } from "../../src/config/load.ts";
import { claimHostAddress, findHostAddress } from "../../src/store/fixed-ips.ts";
import { getNetwork } from "../../src/store/networks.ts";
import { NET, setup } from "../cluster/sim-allocator.ts";
import { memStore } from "../store/fixtures.ts";

/** What these requests answer: an instance with its ports, or an error. */
type Answer = { ports: { address: string }[]; error?: string; field?: string | null };

describe("admin API over the cluster's Allocator", () => {
  test("boot, a refused boot, interface-attach and delete take and give back the IPAM's addresses", async () => {
    const store = memStore("n1");
    const post = (path: string, body: unknown, method = "POST") =>
      app.request(path, { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    let app = createAdminApp({ store, config: defaultConfig() });
    await post("/v1/networks", { label: "private", fixed_range_v4: "10.1.0.0/25", multi_host: true });
    const net = getNetwork(store, "private");
    const s = setup(3, 51, 1, {
      net: { ...NET, id: net.id },
      hostAddress: {
        find: (id) => findHostAddress(store, id, store.nodeId),
        claim: (id, a) => claimHostAddress(store, id, store.nodeId, a),
      },
    });
    app = createAdminApp({ store, config: defaultConfig(), allocator: s.allocator });
    const ipam = s.m.ipam!;
    const owners = () =>
      ipam
        .allocations(net.id)
        .map((a) => a.owner)
        .sort();
    /** Send a request and let the cluster run until it is answered. */
    const call = async (path: string, body: unknown, method = "POST") => {
      let res: Response | undefined;
      const p = Promise.resolve(post(path, body, method)).then((r) => (res = r));
      for (let t = 0; !res && t < 100; t++) await s.advance(100);
      await p;
      return { status: res!.status, json: (await res!.json()) as Answer };
    };

    const vm1 = await call("/v1/instances", { name: "vm1", networks: ["private"] });
    expect(vm1.status).toBe(201);
    const address = vm1.json.ports[0].address;
    const host = findHostAddress(store, net.id, "n1");
    expect(ipam.allocations(net.id).map((a) => [a.address, a.owner])).toEqual(
      expect.arrayContaining([
        [address, "instance:vm1"],
        [host as string, "host:n1"],
      ]),
    );

    // The store refuses the second vm1 after the IPAM agreed its address: the address goes back.
    const again = await call("/v1/instances", { name: "vm1", networks: ["private"] });
    expect([again.status, again.json.error, again.json.field]).toEqual([
      409,
      "an instance named vm1 already exists",
      "name",
    ]);
    expect(owners()).toEqual(["host:n1", "instance:vm1"]);

    const fixed = await call("/v1/instances", { name: "vm2", networks: ["private"], fixed_ips: ["10.1.0.9"] });
    expect([fixed.status, fixed.json.field]).toEqual([400, "fixed_ip"]);

    const attached = await call("/v1/instances/vm1/interfaces", { network: "private" });
    expect([attached.status, attached.json.ports.length]).toEqual([201, 2]);
    expect(owners()).toEqual(["host:n1", "instance:vm1", "instance:vm1"]);
    const second = attached.json.ports[1].address;
    const detached = await call("/v1/instances/vm1/interfaces/detach", { address: second });
    expect(detached.status).toBe(200);
    expect(ipam.allocations(net.id).some((a) => a.address === second)).toBe(false);

    const gone = await call("/v1/instances/vm1", undefined, "DELETE");
    expect(gone.status).toBe(200);
    expect(owners()).toEqual(["host:n1"]);
  });
});
