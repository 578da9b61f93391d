import { describe, expect, test } from "bun:test";
import { findVerb, hoistGlobals, runCli, VERBS } from "../../src/cli/main.ts";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { servedApp } from "./served-app.ts";
import { parseVerbArgs } from "../../src/cli/verb.ts";
import { UsageError } from "../../src/cli/errors.ts";

const verb = (argv: string[]) => findVerb(argv);

describe("CLI parsing", () => {
  test("one- and two-word verbs resolve", () => {
    expect(verb(["network-create", "x"]).verb.name).toBe("network-create");
    expect(verb(["fixed", "reserve", "--address", "10.0.0.5"]).verb.name).toBe("fixed reserve");
    expect(verb(["floating", "list"]).rest).toEqual([]);
    expect(() => verb(["fixed", "frobnicate"])).toThrow("expected one of reserve, unreserve, list");
    expect(() => verb(["frobnicate"])).toThrow('unknown verb "frobnicate"');
  });

  test("negative ICMP type/code stay positional", () => {
    const v = VERBS.find((x) => x.name === "secgroup-add-rule")!;
    expect(parseVerbArgs(v, ["default", "icmp", "-1", "-1", "0.0.0.0/0"]).args).toEqual([
      "default",
      "icmp",
      "-1",
      "-1",
      "0.0.0.0/0",
    ]);
  });

  test("usage errors name the argument", () => {
    const v = VERBS.find((x) => x.name === "boot")!;
    expect(() => parseVerbArgs(v, ["--bogus"])).toThrow(UsageError);
    expect(() => parseVerbArgs(v, [])).toThrow("missing NAME");
    expect(() => parseVerbArgs(v, ["a", "b"])).toThrow('unexpected argument "b"');
    const del = VERBS.find((x) => x.name === "delete")!;
    expect(() => parseVerbArgs(del, ["vm1", "--json"])).toThrow("--json is only for read commands");
  });

  test("every verb has --help; read commands accept --json", async () => {
    for (const v of VERBS) {
      const out: string[] = [];
      expect(await runCli([...v.name.split(" "), "--help"], (s) => out.push(s))).toBe(0);
      expect(out.join("\n")).toContain(`usage: netlet ${v.name}`);
      expect(out.join("\n").includes("--json")).toBe(!!v.read);
    }
  });

  test("a verb group's --help lists its verbs (netlet lab --help, netlet cluster key -h)", async () => {
    const out: string[] = [];
    expect(await runCli(["lab", "--help"], (s) => out.push(s))).toBe(0);
    const text = out.join("\n");
    expect(text).toContain("usage: netlet lab VERB");
    for (const v of VERBS.filter((v) => v.name.startsWith("lab "))) expect(text).toContain(`  ${v.name}`);
    expect(text).not.toContain("network-create");
    out.length = 0;
    expect(await runCli(["cluster", "key", "-h"], (s) => out.push(s))).toBe(0);
    expect(out.join("\n")).toContain("cluster key install");
    expect(await runCli(["lab", "nonsense"], () => {})).toBe(2);
  });

  test("exit codes: 2 for usage, 1 when no agent runs", async () => {
    expect(await runCli(["network-create"], () => {})).toBe(2);
    expect(await runCli(["network-list", "--socket", "/tmp/netlet-no-such.sock"], () => {})).toBe(1);
    expect(await runCli(["--version"], () => {})).toBe(0);
  });
});

describe("where the CLI finds the agent", () => {
  test("--socket, --config and --json are accepted before the verb as well as after it", () => {
    expect(hoistGlobals(["--socket", "/s", "network-list"])).toEqual(["network-list", "--socket", "/s"]);
    expect(hoistGlobals(["--socket=/s", "--json", "fixed", "list"])).toEqual([
      "fixed",
      "list",
      "--socket=/s",
      "--json",
    ]);
    expect(hoistGlobals(["network-list", "--socket", "/s"])).toEqual(["network-list", "--socket", "/s"]);
  });

  test("the verb reaches the agent whichever side of it --socket stands, and admin_socket from the configuration is honoured", async () => {
    const app = servedApp();
    try {
      const before = await app.cli(
        "--socket",
        app.socket,
        "network-create",
        "private",
        "--fixed-range-v4",
        "10.0.0.0/24",
      );
      expect([before.code, before.err]).toEqual([0, ""]);
      const after = await app.cli("network-list", "--json", "--socket", app.socket);
      expect(JSON.parse(after.out).map((n: { label: string }) => n.label)).toEqual(["private"]);
      const conf = join(app.dir, "netlet.conf");
      writeFileSync(conf, `[DEFAULT]\nadmin_socket = ${app.socket}\n`);
      const viaConfig = await app.cli("--config", conf, "network-list", "--json");
      expect([viaConfig.code, JSON.parse(viaConfig.out).length]).toEqual([0, 1]);
      const missing = await app.cli("network-list", "--config", conf, "--socket", join(app.dir, "none.sock"));
      expect(missing.code).toBe(1);
      expect(missing.err).toContain(`no netlet agent is listening on ${join(app.dir, "none.sock")}`);
    } finally {
      app.close();
    }
  });

  test("the agent's warnings are printed, one line each, and the command still succeeds", async () => {
    const app = servedApp();
    try {
      await app.cli("network-create", "a", "--fixed-range-v4", "10.0.0.0/24", "--socket", app.socket);
      const r = await app.cli("network-create", "b", "--fixed-range-v4", "10.1.0.0/24", "--socket", app.socket);
      expect(r.code).toBe(0);
      expect(r.err).toMatch(
        /^netlet: warning: network b shares bridge br100 with a because --bridge was not given.*\n$/,
      );
    } finally {
      app.close();
    }
  });
});
