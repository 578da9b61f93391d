/**
 * Builds dist/netlet: one self-contained executable (bun build --compile) with the version and
 * git commit stamped in. `--release` also writes dist/netlet-linux-<arch> and .sha256 files;
 * `--if-needed` skips the build when dist/netlet is newer than every source file.
 */
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = import.meta.dir;
const out = join(root, "dist", "netlet");
const args = new Set(process.argv.slice(2));

function newestSource(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return t;
}

function gitCommit(): string {
  const r = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: root, stderr: "ignore" });
  const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--", "src"], { cwd: root, stderr: "ignore" })
    .stdout.toString()
    .trim();
  return r.exitCode === 0 ? `${r.stdout.toString().trim()}${dirty ? "-dirty" : ""}` : "unknown";
}

export async function build(): Promise<string> {
  if (args.has("--if-needed") && existsSync(out) && statSync(out).mtimeMs > newestSource(join(root, "src"))) return out;
  mkdirSync(join(root, "dist"), { recursive: true });
  const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version as string;
  const t0 = performance.now();
  const r = Bun.spawnSync(
    [
      process.execPath,
      "build",
      "--compile",
      // Precompiled bytecode: short-lived runs (the libvirt hook, qemu-ifup, every CLI verb) skip
      // parsing the bundle, which was most of their start-up time.
      "--bytecode",
      "--format=esm",
      "--minify-syntax",
      "--minify-whitespace",
      `--define=NETLET_VERSION=${JSON.stringify(JSON.stringify(version)).slice(1, -1)}`,
      `--define=NETLET_COMMIT=${JSON.stringify(JSON.stringify(gitCommit())).slice(1, -1)}`,
      join(root, "src", "main.ts"),
      "--outfile",
      out,
    ],
    { cwd: root, stdout: "pipe", stderr: "pipe" },
  );
  if (r.exitCode !== 0) {
    process.stderr.write(r.stderr.toString() + r.stdout.toString());
    throw new Error("bun build --compile failed");
  }
  process.stderr.write(
    `built ${out} (${(statSync(out).size / 1e6).toFixed(1)} MB) in ${Math.round(performance.now() - t0)} ms\n`,
  );
  if (args.has("--release")) {
    const arch = process.arch === "arm64" ? "arm64" : "x64";
    const rel = join(root, "dist", `netlet-linux-${arch}`);
    copyFileSync(out, rel);
    const sum = createHash("sha256").update(readFileSync(rel)).digest("hex");
    writeFileSync(`${rel}.sha256`, `${sum}  netlet-linux-${arch}\n`);
    process.stderr.write(`wrote ${rel} and ${rel}.sha256\n`);
  }
  return out;
}

if (import.meta.main) await build();
