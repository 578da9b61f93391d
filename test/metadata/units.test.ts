import { describe, expect, test } from "bun:test";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { metadataConfig } from "../../src/metadata/config.ts";
import { batchedLineLogger, rawPath } from "../../src/metadata/guards.ts";
import { listeningInodes } from "../../src/sys/hop-limit.ts";
import { openstackVersion, openstackVersionList } from "../../src/metadata/openstack.ts";
import { pathSegments, renderText, walk } from "../../src/metadata/paths.ts";
import { KeyedTokenBuckets as RateLimiter } from "../../src/util/token-buckets.ts";
import { issueToken, parseTokenTtl, verifyToken } from "../../src/metadata/token.ts";

describe("paths", () => {
  test("pathSegments normalises like posixpath.normpath", () => {
    expect(pathSegments("/")).toEqual([]);
    expect(pathSegments("//latest///meta-data/./")).toEqual(["latest", "meta-data"]);
    expect(pathSegments("/a/b/../../../c")).toEqual(["c"]);
    expect(pathSegments("/open%73tack")).toEqual(["openstack"]);
    expect(pathSegments("/%ZZ")).toBeNull();
  });

  test("renderText: sorted keys, dir/ suffix, _name, lists, no trailing newline", () => {
    expect(renderText({ b: "1", a: { x: "y" }, k: { _name: "0=key", z: "q" } })).toBe("a/\nb\n0=key");
    expect(renderText(["x", "y"])).toBe("x\ny");
    expect(renderText(7)).toBe("7");
    expect(walk({ a: { b: "c" } }, ["a", "b"])).toBe("c");
    expect(walk({ a: "leaf" }, ["a", "deeper"])).toBeUndefined();
    expect(walk({ a: {} }, ["constructor"])).toBeUndefined();
  });

  test("rawPath strips scheme, host and query", () => {
    expect(rawPath("http://169.254.169.254/latest/meta-data/?x=1")).toBe("/latest/meta-data/");
    expect(rawPath("http://h")).toBe("/");
  });
});

describe("OpenStack versions", () => {
  test("versions dated after today are hidden from the list but still served", () => {
    expect(openstackVersionList(Date.UTC(2016, 0, 1))).toEqual([
      "2012-08-10",
      "2013-04-04",
      "2013-10-17",
      "2015-10-15",
      "latest",
    ]);
    expect(openstackVersion("2018-08-27")).toBe("2018-08-27");
    expect(openstackVersion("latest")).toBe("2018-08-27");
    expect(openstackVersion("2020-10-14")).toBeNull();
  });
});

describe("tokens", () => {
  const key = new Uint8Array(32).fill(1);
  test("TTL parsing", () => {
    expect([parseTokenTtl("1"), parseTokenTtl("21600"), parseTokenTtl(" 60 ")]).toEqual([1, 21600, 60]);
    for (const bad of [null, undefined, "", "0", "21601", "1e3", "0x10", "-1", "99999999"])
      expect(parseTokenTtl(bad)).toBeNull();
  });
  test("issued tokens verify for their instance until expiry; tampering fails", () => {
    const t = issueToken(key, "uuid-a", 1000, 10);
    expect(verifyToken(key, t, "uuid-a", 1000)).toBe(true);
    expect(verifyToken(key, t, "uuid-a", 10_999)).toBe(true);
    expect(verifyToken(key, t, "uuid-a", 11_000)).toBe(false);
    expect(verifyToken(key, t, "uuid-b", 1000)).toBe(false);
    const forged = `${Buffer.from("uuid-a.99999999999").toString("base64url")}.${t.split(".")[1]}`;
    expect(verifyToken(key, forged, "uuid-a", 1000)).toBe(false);
    expect(verifyToken(new Uint8Array(32), t, "uuid-a", 1000)).toBe(false);
  });
});

describe("rate limiter", () => {
  test("bucket refills at the configured rate and the source table is bounded", () => {
    const rl = new RateLimiter(10, 2, 2);
    expect([rl.take("a", 0), rl.take("a", 0), rl.take("a", 0)]).toEqual([true, true, false]);
    expect(rl.take("a", 100)).toBe(true); // 0.1 s at 10/s = one token
    rl.take("b", 100);
    rl.take("c", 100); // evicts a (least recently seen)
    expect([rl.take("a", 100), rl.take("a", 100), rl.take("a", 100)]).toEqual([true, true, false]);
  });

  test("a wall clock stepped back neither refills nor drains a bucket", () => {
    const rl = new RateLimiter(10, 2, 2);
    expect([rl.take("a", 10_000), rl.take("a", 10_000)]).toEqual([true, true]);
    expect(rl.take("a", 0)).toBe(false); // 10 s back: no token appears...
    expect(rl.take("a", 100)).toBe(true); // ...and 0.1 s after the step, one has come back
  });
});

describe("config", () => {
  test("rejects out-of-range values with the field name", () => {
    expect(() => metadataConfig({ cacheExpiration: -1 })).toThrow("'cacheExpiration'");
    expect(() => metadataConfig({ imdsMode: "sometimes" as never })).toThrow("'imdsMode'");
    expect(metadataConfig().cacheExpiration).toBe(15);
  });
});

describe("access log", () => {
  test("batched logger writes once per turn and drops beyond its bound", async () => {
    const writes: string[] = [];
    const log = batchedLineLogger((t) => writes.push(t), 2);
    const e = { source: "10.0.0.5", instance: null, method: "GET", path: "/", status: 200, micros: 12 };
    log(e);
    log({ ...e, status: 404 });
    log(e);
    expect(writes).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(writes).toEqual(["metadata 10.0.0.5 - GET / 200 12us\nmetadata 10.0.0.5 - GET / 404 12us\n"]);
    expect(log.dropped()).toBe(1);
  });
});

describe("hop limit", () => {
  test("listeningInodes reads LISTEN sockets of a port from /proc/net/tcp{,6}", () => {
    const dir = mkdtempSync(join(tmpdir(), "nlmd-proc-"));
    mkdirSync(dir, { recursive: true });
    const head = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
    writeFileSync(
      join(dir, "tcp"),
      head +
        "   0: 0100000A:2247 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0\n" +
        "   1: 0100000A:2247 0500000A:D000 01 00000000:00000000 00:00000000 00000000     0        0 222 1 0 100 0 0 10 0\n" +
        "   2: 0100000A:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 333 1 0 100 0 0 10 0\n",
    );
    writeFileSync(
      join(dir, "tcp6"),
      head +
        "   0: 00000000000000000000000000000000:2247 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 444 1 0 100 0 0 10 0\n",
    );
    expect([...listeningInodes(8775, dir)]).toEqual([
      ["111", false],
      ["444", true],
    ]);
  });
});
