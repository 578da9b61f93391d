/**
 * Import-boundary check: every relative import between files of src/ must follow an arrow
 * declared in scripts/import-rules.ts, and no two files may reach each other through imports
 * (a file-level cycle). Type-only imports count: a type is a dependency too.
 *
 *   bun scripts/check-imports.ts [--root DIR]
 *
 * Prints one line per violation and exits 1 when there is any.
 */
import ts from "typescript";
import { Glob } from "bun";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { RULES, type ImportRules } from "./import-rules.ts";

export interface Edge {
  from: string;
  to: string;
}

export interface CheckResult {
  violations: string[];
  /** Listed exceptions that no longer occur: they can be deleted from the rules. */
  stale: string[];
}

/** The unit a file belongs to: its top folder under src/, or the file name for src/*.ts. */
export function unitOf(path: string): string {
  return path.split("/")[1];
}

/** Relative imports of every src/**\/*.ts file under `root`, as paths relative to `root`. */
export function readEdges(root: string, restricted: Iterable<string> = Object.keys(RULES.restricted)): Edge[] {
  const watched = new Set(restricted);
  const files = [...new Glob("src/**/*.ts").scanSync({ cwd: root })].map((f) => f.split("\\").join("/")).sort();
  const edges: Edge[] = [];
  for (const from of files) {
    const info = ts.preProcessFile(readFileSync(join(root, from), "utf8"), true, true);
    for (const { fileName } of info.importedFiles) {
      if (watched.has(fileName)) edges.push({ from, to: fileName });
      if (!fileName.startsWith(".")) continue;
      edges.push({ from, to: resolveTs(root, from, fileName) });
    }
  }
  return edges;
}

function resolveTs(root: string, from: string, spec: string): string {
  const p = relative(root, resolve(root, dirname(from), spec))
    .split("\\")
    .join("/");
  if (p.endsWith(".ts")) return p;
  return existsSync(join(root, `${p}.ts`)) ? `${p}.ts` : `${p}/index.ts`;
}

export function checkEdges(edges: Edge[], rules: ImportRules): CheckResult {
  const violations: string[] = [...declaredCycles(rules)];
  const used = new Set<string>();
  for (const { from, to } of edges) {
    const only = rules.restricted?.[to];
    if (only) {
      if (!only.includes(unitOf(from))) violations.push(`${from} imports ${to}: only ${only.join(", ")} may`);
      continue;
    }
    if (!to.startsWith("src/")) {
      violations.push(`${from} imports ${to}: outside src/`);
      continue;
    }
    const [a, b] = [unitOf(from), unitOf(to)];
    if (a === b) continue;
    const allowed = rules.allow[a];
    if (!allowed) {
      violations.push(`${from}: src/${a} has no declared arrows (add it to scripts/import-rules.ts)`);
      continue;
    }
    if (allowed.includes("*") || allowed.includes(b)) continue;
    const key = `${from} -> ${to}`;
    if (key in rules.exceptions) {
      used.add(key);
      continue;
    }
    violations.push(`${from} imports ${to}: ${a} may not import ${b} (allowed: ${allowed.join(", ") || "nothing"})`);
  }
  for (const cycle of fileCycles(edges)) violations.push(`import cycle among: ${cycle.join(", ")}`);
  const stale = Object.keys(rules.exceptions).filter((k) => !used.has(k));
  return { violations, stale };
}

/** The declared arrows must themselves form no cycle, or the layering means nothing. */
function declaredCycles(rules: ImportRules): string[] {
  const adj = new Map<string, string[]>();
  for (const [u, to] of Object.entries(rules.allow)) if (!to.includes("*")) adj.set(u, [...to]);
  return stronglyConnected(adj).map((c) => `declared arrows form a cycle among: ${c.join(", ")}`);
}

function fileCycles(edges: Edge[]): string[][] {
  const adj = new Map<string, string[]>();
  for (const { from, to } of edges) {
    if (!adj.has(from)) adj.set(from, []);
    adj.get(from)!.push(to);
  }
  return stronglyConnected(adj);
}

/** Tarjan's strongly connected components with more than one member (each sorted). */
function stronglyConnected(adj: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of adj.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const comp: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      comp.push(w);
    } while (w !== v);
    if (comp.length > 1) out.push(comp.sort());
  };
  for (const v of [...adj.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

if (import.meta.main) {
  const i = process.argv.indexOf("--root");
  const root = i > 0 ? resolve(process.argv[i + 1] ?? ".") : resolve(import.meta.dir, "..");
  const { violations, stale } = checkEdges(readEdges(root), RULES);
  for (const s of stale)
    console.error(`note: exception no longer needed, remove it from scripts/import-rules.ts: ${s}`);
  for (const v of violations) console.error(v);
  if (violations.length > 0) {
    console.error(
      `import-boundary check failed: ${violations.length} violation(s); the arrows are in scripts/import-rules.ts and docs/architecture.md`,
    );
    process.exit(1);
  }
  console.log("import-boundary check passed");
}
