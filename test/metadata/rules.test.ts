import { describe, expect, test } from "bun:test";
import { signInstanceId } from "../../src/metadata/identity.ts";
import { view } from "./fixtures.ts";
import { makeApp } from "./helpers.ts";
import { createLogger } from "../../src/log.ts";

const PW = "/openstack/latest/password";

describe("password", () => {
  test("GET is empty until a POST stores it; a second POST is 409 even within the cache window", async () => {
    const { get, req } = makeApp();
    expect(await get(PW)).toMatchObject({ status: 200, body: "" });
    expect((await req(PW, { method: "POST", body: "secret-1" })).status).toBe(200);
    expect((await get(PW)).body).toBe("secret-1"); // the POST dropped the cached document
    expect((await req(PW, { method: "POST", body: "secret-2" })).status).toBe(409);
    expect((await get(PW)).body).toBe("secret-1");
  });

  test("over 1020 bytes is 400, exactly 1020 is stored", async () => {
    const { req, get } = makeApp();
    expect((await req(PW, { method: "POST", body: "x".repeat(1021) })).status).toBe(400);
    const big = { method: "POST", body: "x".repeat(5000), headers: { "Content-Length": "5000" } };
    expect((await req(PW, big)).status).toBe(400);
    // an undeclared (streamed) body is bounded too
    const stream = new ReadableStream({
      start(ctl) {
        for (let i = 0; i < 3; i++) ctl.enqueue(new Uint8Array(400).fill(65));
        ctl.close();
      },
    });
    expect((await req(PW, { method: "POST", body: stream })).status).toBe(400);
    expect((await req(PW, { method: "POST", body: "y".repeat(1020) })).status).toBe(200);
    expect((await get(PW)).body).toBe("y".repeat(1020));
  });

  test("other methods are 400; below GRIZZLY it does not exist", async () => {
    const { req } = makeApp();
    for (const method of ["PUT", "DELETE", "PATCH"]) expect((await req(PW, { method })).status).toBe(400);
    expect((await req("/openstack/2012-08-10/password", { method: "POST", body: "a" })).status).toBe(404);
  });
});

describe("methods and guards", () => {
  test("data paths answer GET and HEAD, other methods 405", async () => {
    const { req } = makeApp();
    const head = await req("/latest/meta-data/instance-id", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    for (const method of ["POST", "PUT", "DELETE"]) {
      const res = await req("/latest/meta-data/instance-id", { method });
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe("GET, HEAD");
    }
    expect((await req("/", { method: "DELETE" })).status).toBe(405);
    expect((await req("/latest/meta-data/nope", { method: "POST" })).status).toBe(404);
  });

  test("declared bodies over the bound are refused with 413", async () => {
    const { req } = makeApp({ maxBodyBytes: 100 });
    expect(
      (await req("/latest/api/token", { method: "PUT", body: "z".repeat(101), headers: { "Content-Length": "101" } }))
        .status,
    ).toBe(413);
  });

  test("per-source token bucket refuses with 429 and refills with the clock", async () => {
    const { get, clock, registry } = makeApp({ rateLimitBurst: 3, rateLimitPerSecond: 2 });
    for (let i = 0; i < 3; i++) expect((await get("/latest/meta-data/instance-id")).status).toBe(200);
    expect((await get("/latest/meta-data/instance-id")).status).toBe(429);
    expect((await get("/latest/meta-data/instance-id", "10.0.0.9")).status).toBe(404); // another source has its own bucket
    expect((await get("/latest/meta-data/instance-id", "10.0.0.5", "net-2")).status).toBe(404); // so has the same address on another network
    clock.ms += 500; // one token back
    expect((await get("/latest/meta-data/instance-id")).status).toBe(200);
    expect((await get("/latest/meta-data/instance-id")).status).toBe(429);
    expect(registry.counter("netlet_metadata_rate_limited_total", "").get()).toBe(2);
  });

  test("one access log line per request with source, instance, path, status and µs", async () => {
    const { get, logs, clock } = makeApp();
    await get("/latest/meta-data/instance-id");
    await get("/nope", "10.9.9.9");
    expect(logs).toEqual([
      {
        source: "10.0.0.5",
        instance: "d8e02d56-2648-49a3-bf97-6be8f1204f38",
        method: "GET",
        path: "/latest/meta-data/instance-id",
        status: 200,
        micros: 0,
      },
      { source: "10.9.9.9", instance: null, method: "GET", path: "/nope", status: 404, micros: 0 },
    ]);
    void clock;
  });
});

describe("identity", () => {
  test("two instances sharing an address on two networks each get their own data", async () => {
    const { get, source } = makeApp();
    source.put(
      view({
        instance: { uuid: "22222222-2222-4222-8222-222222222222", hostname: "other" },
        vif: { id: "vif-2", networkId: "net-2" },
        net: { id: "net-2", bridge: "br200" },
      }),
    );
    expect((await get("/latest/meta-data/hostname", "10.0.0.5", "net-1")).body).toBe("test.novalocal");
    expect((await get("/latest/meta-data/hostname", "10.0.0.5", "net-2")).body).toBe("other.novalocal");
    expect((await get("/latest/meta-data/hostname", "10.0.0.5", "net-1")).body).toBe("test.novalocal");
    expect((await get("/latest/meta-data/hostname", "10.0.0.5", "net-3")).status).toBe(404);
    // without a network the address is ambiguous: refuse rather than guess
    expect((await get("/latest/meta-data/hostname", "10.0.0.5", null)).status).toBe(404);
  });

  test("IPv4-mapped IPv6 peers and IPv6 peers are found", async () => {
    const { get } = makeApp();
    expect((await get("/latest/meta-data/instance-id", "::ffff:10.0.0.5")).body).toBe("i-d8e02d56");
    expect((await get("/latest/meta-data/instance-id", "fd00:1::f816:3eff:fe00:1")).body).toBe("i-d8e02d56");
  });
});

describe("neutron-style proxy mode", () => {
  const secret = "s3cret";
  const uuid = "d8e02d56-2648-49a3-bf97-6be8f1204f38";
  const headers = (over: Record<string, string> = {}) => ({
    "X-Instance-ID": uuid,
    "X-Tenant-ID": "f7ac731cc11f40efbc03a9f9e1d1d21f",
    "X-Instance-ID-Signature": signInstanceId(secret, uuid),
    "X-Forwarded-For": "10.0.0.5",
    ...over,
  });

  test("a valid signature identifies the instance regardless of the peer address", async () => {
    const { req } = makeApp({ proxySharedSecret: secret });
    const res = await req("/latest/meta-data/instance-id", { headers: headers() }, "192.0.2.1", null);
    expect([res.status, await res.text()]).toEqual([200, "i-d8e02d56"]);
  });

  test("missing headers → 400, bad signature → 403, other tenant → 404", async () => {
    const { req } = makeApp({ proxySharedSecret: secret });
    const p = "/latest/meta-data/instance-id";
    expect((await req(p, {}, "192.0.2.1")).status).toBe(400);
    expect((await req(p, { headers: { "X-Instance-ID": uuid } }, "192.0.2.1")).status).toBe(400);
    expect(
      (await req(p, { headers: headers({ "X-Instance-ID-Signature": "00".repeat(32) }) }, "192.0.2.1")).status,
    ).toBe(403);
    expect((await req(p, { headers: headers({ "X-Instance-ID-Signature": "short" }) }, "192.0.2.1")).status).toBe(403);
    expect((await req(p, { headers: headers({ "X-Tenant-ID": "other" }) }, "192.0.2.1")).status).toBe(404);
    const other = "99999999-2222-4222-8222-222222222222";
    const signed = { "X-Instance-ID": other, "X-Instance-ID-Signature": signInstanceId(secret, other) };
    expect((await req(p, { headers: headers(signed) }, "192.0.2.1")).status).toBe(404);
  });
});

describe("failures", () => {
  test("a throwing source is a counted 500, and the server keeps answering", async () => {
    const logged: string[] = [];
    const logger = createLogger({ write: (l) => logged.push(l) });
    const { req, source, registry } = makeApp({ cacheExpiration: 0 }, { logger });
    const real = source.resolve.bind(source);
    let fail = true;
    source.resolve = (ip, net) => {
      if (fail) throw new Error("database is locked");
      return real(ip, net);
    };
    expect((await req("/latest/meta-data/instance-id")).status).toBe(500);
    fail = false;
    expect((await req("/latest/meta-data/instance-id")).status).toBe(200);
    expect(registry.counter("netlet_metadata_errors_total", "").get()).toBe(1);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain(
      'level=error msg="request failed" method=GET path=/latest/meta-data/instance-id err="database is locked"',
    );
  });
});
