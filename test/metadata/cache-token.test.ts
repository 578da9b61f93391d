import { describe, expect, test } from "bun:test";
import { view } from "./fixtures.ts";
import { makeApp } from "./helpers.ts";

const HOST = "/latest/meta-data/hostname";

describe("cache", () => {
  test("documents are cached until invalidate(uuid), then re-rendered from the source", async () => {
    const { app, get, source, registry } = makeApp();
    expect((await get(HOST)).body).toBe("test.novalocal");
    source.put(view({ instance: { hostname: "renamed" } }));
    expect((await get(HOST)).body).toBe("test.novalocal");
    app.invalidate("d8e02d56-2648-49a3-bf97-6be8f1204f38");
    expect((await get(HOST)).body).toBe("renamed.novalocal");
    expect(registry.counter("netlet_metadata_cache_hits_total", "").get()).toBe(1);
    expect(registry.counter("netlet_metadata_cache_misses_total", "").get()).toBe(2);
  });

  test("invalidate of one instance leaves others cached; invalidateAll drops all", async () => {
    const { app, get, source } = makeApp();
    const other = { uuid: "33333333-2222-4222-8222-222222222222", hostname: "b" };
    source.put(view({ instance: other, vif: { address: "10.0.0.7" } }));
    await get(HOST);
    await get(HOST, "10.0.0.7");
    source.put(view({ instance: { hostname: "a2" } }));
    source.put(view({ instance: { ...other, hostname: "b2" }, vif: { address: "10.0.0.7" } }));
    app.invalidate(other.uuid);
    expect((await get(HOST)).body).toBe("test.novalocal");
    expect((await get(HOST, "10.0.0.7")).body).toBe("b2.novalocal");
    app.invalidateAll();
    expect((await get(HOST)).body).toBe("a2.novalocal");
  });

  test("metadata_cache_expiration bounds staleness; 0 disables caching", async () => {
    const { get, source, clock } = makeApp({ cacheExpiration: 15 });
    await get(HOST);
    source.put(view({ instance: { hostname: "later" } }));
    clock.ms += 14_999;
    expect((await get(HOST)).body).toBe("test.novalocal");
    clock.ms += 1;
    expect((await get(HOST)).body).toBe("later.novalocal");

    const nocache = makeApp({ cacheExpiration: 0 });
    await nocache.get(HOST);
    nocache.source.put(view({ instance: { hostname: "now" } }));
    expect((await nocache.get(HOST)).body).toBe("now.novalocal");
  });

  test("a deleted instance stops being served once invalidated", async () => {
    const { app, get, source } = makeApp();
    expect((await get(HOST)).status).toBe(200);
    source.delete("d8e02d56-2648-49a3-bf97-6be8f1204f38");
    app.invalidate("d8e02d56-2648-49a3-bf97-6be8f1204f38");
    expect((await get(HOST)).status).toBe(404);
  });
});

describe("IMDSv2 tokens", () => {
  const put = (ttl?: string, extra: Record<string, string> = {}) => ({
    method: "PUT",
    headers: { ...(ttl === undefined ? {} : { "X-aws-ec2-metadata-token-ttl-seconds": ttl }), ...extra },
  });
  const withToken = (token: string) => ({ headers: { "X-aws-ec2-metadata-token": token } });

  test("PUT issues a token that GETs may carry; TTL echoed", async () => {
    const { req } = makeApp();
    const res = await req("/latest/api/token", put("21600"));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-aws-ec2-metadata-token-ttl-seconds")).toBe("21600");
    const token = await res.text();
    expect(token.length).toBeGreaterThan(20);
    const md = await req("/latest/meta-data/instance-id", withToken(token));
    expect([md.status, await md.text()]).toEqual([200, "i-d8e02d56"]);
  });

  test("TTL outside 1..21600 or missing is 400; X-Forwarded-For is 403; GET on the token path is 405", async () => {
    const { req } = makeApp();
    for (const ttl of [undefined, "0", "21601", "abc", "-5", "1.5", ""])
      expect([ttl, (await req("/latest/api/token", put(ttl))).status]).toEqual([ttl, 400]);
    expect((await req("/latest/api/token", put("1"))).status).toBe(200);
    expect((await req("/latest/api/token", put("60", { "X-Forwarded-For": "10.0.0.5" }))).status).toBe(403);
    expect((await req("/latest/api/token")).status).toBe(405);
    expect((await req("/latest/api/token", put("60"), "10.0.0.99")).status).toBe(404);
  });

  test("optional mode: no token is fine, a bad token is 401", async () => {
    const { req } = makeApp();
    expect((await req("/latest/meta-data/instance-id")).status).toBe(200);
    expect((await req("/latest/meta-data/instance-id", withToken("garbage"))).status).toBe(401);
    expect((await req("/latest/meta-data/instance-id", withToken("a".repeat(5000)))).status).toBe(401);
  });

  test("required mode: 401 without a token, 200 with one, 401 once expired", async () => {
    const { req, clock } = makeApp({ imdsMode: "required" });
    expect((await req("/latest/meta-data/instance-id")).status).toBe(401);
    expect((await req("/openstack/latest/meta_data.json")).status).toBe(401);
    expect((await req("/")).status).toBe(200); // the version list is not instance data
    const token = await (await req("/latest/api/token", put("10"))).text();
    expect((await req("/latest/meta-data/instance-id", withToken(token))).status).toBe(200);
    clock.ms += 10_000;
    expect((await req("/latest/meta-data/instance-id", withToken(token))).status).toBe(401);
  });

  test("a token is bound to the instance it was issued to", async () => {
    const { req, source } = makeApp({ imdsMode: "required" });
    source.put(view({ instance: { uuid: "44444444-2222-4222-8222-222222222222" }, vif: { address: "10.0.0.8" } }));
    const token = await (await req("/latest/api/token", put("60"))).text();
    expect((await req("/latest/meta-data/instance-id", withToken(token), "10.0.0.8")).status).toBe(401);
    expect((await req("/latest/meta-data/instance-id", withToken(token), "10.0.0.5")).status).toBe(200);
  });

  test("tokens from another process (key) are refused", async () => {
    const a = makeApp();
    const b = makeApp({}, { randomBytes: (n) => new Uint8Array(n).fill(7) });
    const token = await (await a.req("/latest/api/token", put("60"))).text();
    expect((await b.req("/latest/meta-data/instance-id", withToken(token))).status).toBe(401);
  });
});
