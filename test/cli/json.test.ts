/** `--json` as nova's API spelled it, and every id a listing shows accepted by the matching show or delete. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { toApiJson } from "../../src/cli/json.ts";
import { putLease } from "../../src/store/leases.ts";
import { getNetwork } from "../../src/store/networks.ts";
import { servedApp } from "./served-app.ts";

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** Every key snake_case, no replication field, every *_at time ISO-8601; `meta` holds the user's own keys. */
function checkShape(where: string, data: unknown, path = ""): void {
  if (Array.isArray(data)) {
    for (const [i, x] of data.entries()) checkShape(where, x, `${path}[${i}]`);
    return;
  }
  if (data === null || typeof data !== "object") return;
  for (const [k, v] of Object.entries(data)) {
    const at = `${where}: ${path}.${k}`;
    expect([at, /^[a-z][a-z0-9_]*$/.test(k)]).toEqual([at, true]);
    expect([at, ["origin", "hlc", "deleted"].includes(k)]).toEqual([at, false]);
    if (k.endsWith("_at")) expect([at, v === null || ISO.test(String(v))]).toEqual([at, true]);
    if (k !== "meta") checkShape(where, v, `${path}.${k}`);
  }
}

describe("--json output", () => {
  const app = servedApp();
  const cli = (...argv: string[]) => app.cli(...argv, "--socket", app.socket);
  const ok = async (...argv: string[]) => {
    const r = await cli(...argv);
    const errors = r.err.split("\n").filter((l) => l && !l.startsWith("netlet: warning: "));
    expect([argv.join(" "), r.code, errors]).toEqual([argv.join(" "), 0, []]);
    return r.out;
  };
  const json = async (...argv: string[]) => {
    const data = JSON.parse(await ok(...argv, "--json"));
    checkShape(argv.join(" "), data);
    return data;
  };
  afterAll(() => app.close());

  beforeAll(async () => {
    await ok(
      "network-create",
      "private",
      "--fixed-range-v4",
      "10.0.0.0/24",
      "--fixed-range-v6",
      "fd00:7::/64",
      "--bridge",
      "br100",
    );
    writeFileSync(
      join(app.dir, "k.pub"),
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOmvh1Vq1m0Bx3a0aSxRKmHbTEJpDxkOuDZUF5xdZ3oE demo\n",
    );
    await ok("keypair-add", "demo", "--pub-key", join(app.dir, "k.pub"));
    await ok("secgroup-create", "web", "web servers");
    await ok("secgroup-add-rule", "web", "tcp", "80", "80", "0.0.0.0/0");
    await ok(
      "boot",
      "vm1",
      "--network",
      "private",
      "--security-groups",
      "web",
      "--meta",
      "camelKey=1",
      "--key-name",
      "demo",
    );
    await ok("floating-ip-bulk-create", "203.0.113.0/30", "--pool", "nova");
    const fip = JSON.parse(await ok("floating-ip-create", "nova", "--json")).address;
    await ok("floating-ip-associate", "vm1", fip);
    const net = getNetwork(app.store, "private");
    putLease(app.store, {
      networkId: net.id,
      mac: "fa:16:3e:00:00:01",
      address: "10.0.0.9",
      hostname: "x",
      clientId: null,
      state: "leased",
      expiresAt: Date.parse("2026-12-08T02:00:00Z"),
      updatedAt: Date.parse("2026-12-08T01:00:00Z"),
    });
  });

  test("snake_case keys, ISO-8601 times, no origin/hlc/deleted; the user's metadata keys are kept as given", async () => {
    const [n] = await json("network-list");
    expect(n).toMatchObject({ label: "private", cidr_v6: "fd00:7::/64", multi_host: true });
    expect(n.created_at).toMatch(ISO);
    const vm = await json("show", "vm1");
    expect(vm).toMatchObject({
      name: "vm1",
      security_groups: ["web"],
      meta: { camelKey: "1" },
      key_name: "demo",
      user_data_bytes: 0,
    });
    expect(vm.ports[0].address_v6).toMatch(/^fd00:7::/);
    expect(vm.floating_ips).toHaveLength(1);
    const [lease] = await json("dhcp", "leases");
    expect([lease.expires_at, lease.updated_at]).toEqual(["2026-12-08T02:00:00.000Z", "2026-12-08T01:00:00.000Z"]);
    for (const argv of [
      ["list"],
      ["fixed", "list"],
      ["keypair-list"],
      ["secgroup-list"],
      ["secgroup-list-rules", "web"],
      ["floating", "list"],
      ["floating-ip-bulk-list"],
      ["floating-ip-list"],
      ["floating-ip-pool-list"],
      ["interface-list", "vm1"],
      ["service-list"],
      ["status"],
    ]) {
      await json(...argv);
    }
  });

  test("every id a listing shows is accepted by the matching show or delete", async () => {
    const [net] = await json("network-list");
    await ok("network-show", net.id);
    const [vm] = await json("list");
    await ok("show", vm.uuid);
    await ok("interface-list", vm.uuid);
    await ok("network-show", vm.ports[0].network_id);
    const fixed = (await json("fixed", "list")).find((f: { instance_uuid: string | null }) => f.instance_uuid);
    // Its port is named by the MAC interface-list shows; the internal VIF id is not printed.
    expect(Object.keys(fixed)).not.toContain("vif_id");
    await ok("show", fixed.instance_uuid);
    await ok("network-show", fixed.network_id);
    await ok("fixed", "reserve", "--address", (await json("fixed", "list")).at(-1).address);
    const [lease] = await json("dhcp", "leases");
    await ok("network-show", lease.network_id);
    const groups = await json("secgroup-list");
    const web = groups.find((g: { name: string }) => g.name === "web");
    const [rule] = await json("secgroup-list-rules", web.id);
    await ok("secgroup-list-rules", rule.group_id);
    await ok("secgroup-delete-rule", web.id, rule.id);
    expect(await json("secgroup-list-rules", "web")).toEqual([]);
    const gone = await cli("secgroup-delete-rule", "web", rule.id);
    expect([gone.code, gone.err]).toEqual([1, "netlet: matching rule not found (rule)\n"]);
    const [fip] = await json("floating-ip-list");
    expect(fip.instance_uuid).toBe(vm.uuid);
    await ok("floating-ip-disassociate", "vm1", fip.address);
    await ok("floating-ip-delete", fip.address);
    const [pool] = await json("floating-ip-pool-list");
    await ok("floating-ip-create", pool.name);
    const bulk = await json("floating-ip-bulk-list");
    await ok("floating-ip-bulk-delete", bulk.find((f: { project_id: string | null }) => f.project_id === null).address);
    const [port] = await json("interface-list", vm.uuid);
    await ok("interface-detach", vm.uuid, port.mac);
    const [key] = await json("keypair-list");
    await ok("keypair-delete", key.name);
    await ok("delete", vm.uuid);
    await ok("secgroup-delete", web.id);
    await ok("network-delete", net.id);
    expect(await json("network-list")).toEqual([]);
  });

  test("the conversion: nested records, names that are not fields, and a clock never set", () => {
    expect(
      toApiJson({
        node: { uptimeS: 3, lastApply: { at: 1000 } },
        drops: { "spoof-dhcp": 2 },
        meta: { myKey: "v" },
        since: 0,
        origin: "a",
        hlc: "x",
        deleted: false,
      }),
    ).toEqual({
      node: { uptime_s: 3, last_apply: { at: "1970-01-01T00:00:01.000Z" } },
      drops: { "spoof-dhcp": 2 },
      meta: { myKey: "v" },
      since: null,
    });
  });
});
