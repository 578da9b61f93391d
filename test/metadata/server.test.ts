/**
 * The Bun listener shell on loopback: one listener per address, each mapped to its network;
 * and Debian cloud-init's IMDSv2 (AWS) path against `imds_mode = required`.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createMetadataApp } from "../../src/metadata/app.ts";
import { type MetadataServer, startMetadataServer } from "../../src/metadata/server.ts";
import { MemorySource } from "../../src/metadata/source.ts";
import { Registry } from "../../src/metrics.ts";
import { createLogger } from "../../src/log.ts";
import { view } from "./fixtures.ts";

const PORT = 20000 + (process.pid % 20000);
let server: MetadataServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

function fleet() {
  const source = new MemorySource();
  source.put(view({ vif: { address: "127.0.0.1" } }));
  source.put(
    view({
      instance: { uuid: "bbbbbbbb-0000-4000-8000-000000000000", hostname: "on-net-2" },
      vif: { address: "127.0.0.1", networkId: "net-2" },
      net: { id: "net-2" },
    }),
  );
  return source;
}

describe("startMetadataServer", () => {
  test("each listener answers for its own network; setListen adds and removes listeners", async () => {
    const app = createMetadataApp({ source: fleet(), log: () => {}, registry: new Registry() });
    const nets: Record<string, string> = { "127.0.0.1": "net-1", "127.0.0.2": "net-2" };
    const logged: string[] = [];
    const log = createLogger({ write: (l) => logged.push(l) });
    server = startMetadataServer({ app, listen: ["127.0.0.1"], port: PORT, networkOf: (a) => nets[a] ?? null, log });
    const host = (addr: string) => fetch(`http://${addr}:${PORT}/latest/meta-data/hostname`).then((r) => r.text());
    expect(await host("127.0.0.1")).toBe("test.novalocal");
    server.setListen(["127.0.0.1", "127.0.0.2"]);
    expect(server.addresses().sort()).toEqual(["127.0.0.1", "127.0.0.2"]);
    // Same source address (127.0.0.1), other listener → the instance on the other network.
    expect(await host("127.0.0.2")).toBe("on-net-2.novalocal");
    // An address this host does not have yet is reported, not fatal.
    expect(server.setListen(["127.0.0.2", "192.0.2.77"])).toEqual(["192.0.2.77"]);
    expect(logged.map((l) => l.replace(/ err=.*/, "").replace(/^ts=\S+ /, ""))).toEqual([
      `level=warn msg="cannot listen" address=192.0.2.77 port=${PORT}`,
    ]);
    expect(
      await fetch(`http://127.0.0.1:${PORT}/`).then(
        () => "open",
        () => "closed",
      ),
    ).toBe("closed");
    expect(await host("127.0.0.2")).toBe("on-net-2.novalocal");
  });

  test("Debian cloud-init's IMDSv2 (AWS) crawl succeeds against imds_mode = required", async () => {
    const source = new MemorySource();
    source.put(view({ vif: { address: "127.0.0.1" } }));
    const app = createMetadataApp({
      source,
      config: { imdsMode: "required" },
      log: () => {},
      registry: new Registry(),
    });
    server = startMetadataServer({ app, listen: ["127.0.0.1"], port: PORT, networkOf: () => "net-1" });
    const crawl = async (...extra: string[]) => {
      const argv = [
        "/usr/bin/python3",
        join(import.meta.dir, "cloudinit_crawl.py"),
        `http://127.0.0.1:${PORT}`,
        "fa:16:3e:00:00:01",
        ...extra,
      ];
      const p = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
      const out = await new Response(p.stdout).text();
      await p.exited;
      return JSON.parse(
        out
          .split("\n")
          .find((l) => l.startsWith("RESULT "))!
          .slice(7),
      );
    };
    // cloud-init's AWS path PUTs for a token and sends it on every GET (it also retries the
    // identity document nova never served, which costs it ~15 s).
    const aws = await crawl("aws");
    expect(aws.ec2).toMatchObject({
      ok: true,
      instance_id: "i-d8e02d56",
      hostname: "test.novalocal",
      local_ipv4: "127.0.0.1",
    });
    // (Its IMDSv1 paths fail against `required`, as on AWS: unit tests cover the 401s.)
  }, 60_000);
});
