import { describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { checkEdges, readEdges } from "../../scripts/check-imports.ts";
import { RULES, type ImportRules } from "../../scripts/import-rules.ts";

const FIXTURES = join(import.meta.dir, "fixtures", "imports");
const SCRIPT = resolve(import.meta.dir, "../../scripts/check-imports.ts");

describe("import-boundary check", () => {
  test("a store file importing the cluster (type-only) is a violation", () => {
    const { violations } = checkEdges(readEdges(join(FIXTURES, "forbidden")), RULES);
    expect(violations).toEqual([
      expect.stringContaining("src/store/replica.ts imports src/cluster/node.ts: store may not import cluster"),
    ]);
  });

  test("the command exits 1 and names the forbidden import", () => {
    const p = Bun.spawnSync([process.execPath, SCRIPT, "--root", join(FIXTURES, "forbidden")], {
      stderr: "pipe",
      stdout: "pipe",
    });
    expect(p.exitCode).toBe(1);
    const err = p.stderr.toString();
    expect(err).toContain("src/store/replica.ts imports src/cluster/node.ts");
    expect(err).toContain("import-boundary check failed: 1 violation(s)");
  });

  test("allowed arrows pass: multi-line, type-only and dynamic imports are read; comments and strings are not imports", () => {
    const root = join(FIXTURES, "clean");
    const edges = readEdges(root);
    expect(edges).toEqual([
      { from: "src/cluster/node.ts", to: "src/replication/row.ts" },
      { from: "src/cluster/node.ts", to: "src/replication/row.ts" },
      { from: "src/store/rows.ts", to: "src/replication/row.ts" },
    ]);
    expect(checkEdges(edges, RULES).violations).toEqual([]);
    const p = Bun.spawnSync([process.execPath, SCRIPT, "--root", root], { stderr: "pipe", stdout: "pipe" });
    expect(p.exitCode).toBe(0);
  });

  test("two files of one folder importing each other are a cycle", () => {
    const { violations } = checkEdges(readEdges(join(FIXTURES, "cycle")), RULES);
    expect(violations).toEqual(["import cycle among: src/store/floating.ts, src/store/instances.ts"]);
  });

  test("a folder without declared arrows, declared arrows in a circle, and exceptions", () => {
    const edges = [
      { from: "src/a/x.ts", to: "src/b/y.ts" },
      { from: "src/c/z.ts", to: "src/a/x.ts" },
    ];
    const rules: ImportRules = {
      allow: { a: ["c"], c: ["a"] },
      exceptions: { "src/a/x.ts -> src/b/y.ts": "tolerated", "src/a/gone.ts -> src/b/y.ts": "no longer there" },
      restricted: {},
    };
    const { violations, stale } = checkEdges(edges, rules);
    expect(violations).toEqual(["declared arrows form a cycle among: a, c"]);
    expect(stale).toEqual(["src/a/gone.ts -> src/b/y.ts"]);
    const unknown = checkEdges([{ from: "src/d/w.ts", to: "src/a/x.ts" }], {
      allow: { a: [] },
      exceptions: {},
      restricted: {},
    });
    expect(unknown.violations).toEqual([expect.stringContaining("src/d has no declared arrows")]);
  });

  test("bun:ffi is imported from sys/ only", () => {
    const root = join(FIXTURES, "ffi");
    expect(checkEdges(readEdges(root), RULES).violations).toEqual([
      "src/metadata/ttl.ts imports bun:ffi: only sys may",
    ]);
  });

  test("the declared arrows of the real tree form no cycle", () => {
    expect(checkEdges([], RULES).violations).toEqual([]);
  });
});
