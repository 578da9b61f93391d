import { describe, expect, test } from "bun:test";
import { findVerb, runCli, VERBS } from "../../src/cli/main.ts";
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
    expect(parseVerbArgs(v, ["default", "icmp", "-1", "-1", "0.0.0.0/0"]).args).toEqual(["default", "icmp", "-1", "-1", "0.0.0.0/0"]);
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
