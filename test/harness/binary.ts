/** The built netlet binary for integration tests: built once per run when missing or stale. */
import { join } from "node:path";

const root = join(import.meta.dir, "..", "..");
let built: string | null = null;

export function netletBinary(): string {
  if (built) return built;
  const r = Bun.spawnSync([process.execPath, join(root, "build.ts"), "--if-needed"], {
    cwd: root,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (r.exitCode !== 0) throw new Error(`build failed: ${r.stderr.toString()}`);
  built = join(root, "dist", "netlet");
  return built;
}
