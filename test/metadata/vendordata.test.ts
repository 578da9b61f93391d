import { describe, expect, test } from "bun:test";
import { parseTargets } from "../../src/metadata/vendordata.ts";
import { makeApp } from "./helpers.ts";

describe("vendordata", () => {
  test("vendor_data.json is {} without a file and the file's JSON with one", async () => {
    expect((await makeApp().get("/openstack/latest/vendor_data.json")).body).toBe("{}");
    const res = await makeApp({ vendordataStatic: { cloud: "x" } }).get("/openstack/latest/vendor_data.json");
    expect([res.body, res.type]).toEqual(['{"cloud":"x"}', "application/json"]);
  });

  test("targets: name@url, entries without @ and duplicate names skipped", () => {
    expect(parseTargets(["a@http://h/x", "nope", "a@http://other", "b@http://u@h/y"])).toEqual([
      { name: "a", url: "http://h/x" },
      { name: "b", url: "http://u@h/y" },
    ]);
  });

  test("vendor_data2.json POSTs nova's body to each target; failures and timeouts give {}", async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    const fakeFetch = async (url: string, init: RequestInit): Promise<Response> => {
      calls.push({ url, init });
      if (url.endsWith("/ok")) return Response.json({ hello: "world" }, { status: 201 });
      if (url.endsWith("/500")) return new Response("boom", { status: 500 });
      if (url.endsWith("/badjson")) return new Response("{nope", { status: 200 });
      if (url.endsWith("/empty")) return new Response(null, { status: 204 });
      return new Promise((_, reject) => init.signal!.addEventListener("abort", () => reject(new Error("timeout"))));
    };
    const targets = [
      "ok@http://t/ok",
      "err@http://t/500",
      "bad@http://t/badjson",
      "empty@http://t/empty",
      "slow@http://t/slow",
      "static@http://t/ok",
    ];
    const { get } = makeApp(
      { vendordataStatic: { s: 1 }, vendordataDynamicTargets: targets, vendordataTimeoutMs: 50 },
      { fetch: fakeFetch },
    );
    const res = await get("/openstack/latest/vendor_data2.json");
    expect(res.type).toBe("application/json");
    expect(JSON.parse(res.body)).toEqual({
      static: { s: 1 },
      ok: { hello: "world" },
      err: {},
      bad: {},
      empty: {},
      slow: {},
    });
    const first = calls[0];
    expect(first.init.method).toBe("POST");
    expect(first.init.headers).toMatchObject({
      "Content-Type": "application/json",
      Accept: "application/json",
      "User-Agent": "openstack-nova-vendordata",
    });
    expect(JSON.parse(String(first.init.body))).toEqual({
      "project-id": "f7ac731cc11f40efbc03a9f9e1d1d21f",
      "instance-id": "d8e02d56-2648-49a3-bf97-6be8f1204f38",
      "image-id": "0a1b2c3d-0000-4000-8000-000000000000",
      "user-data": Buffer.from("#!/bin/bash\necho 'Extra user data here'\n").toString("base64"),
      hostname: "test",
      metadata: { priority: "low", role: "webserver" },
    });
  });
});
