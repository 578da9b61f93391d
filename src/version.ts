/** Version and git commit, stamped by build.ts through --define; "dev" when run from source. */
declare const NETLET_VERSION: string | undefined;
declare const NETLET_COMMIT: string | undefined;

export const VERSION = typeof NETLET_VERSION === "string" ? NETLET_VERSION : "0.1.0-dev";

let fromGit: string | undefined;

export function commit(): string {
  if (typeof NETLET_COMMIT === "string") return NETLET_COMMIT;
  // Run from source: ask git once (`netlet status` asks on every call, on the agent's event loop).
  if (fromGit === undefined) {
    const r = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: import.meta.dir, stderr: "ignore" });
    fromGit = r.exitCode === 0 ? r.stdout.toString().trim() : "unknown";
  }
  return fromGit;
}
