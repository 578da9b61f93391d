/** The real admin API served on a Unix socket, for CLI tests that need no namespace. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAdminApp } from "../../src/api/app.ts";
import { runCli } from "../../src/cli/main.ts";
import { defaultConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/log.ts";
import { memStore } from "../store/fixtures.ts";

/** The real admin API on a Unix socket in a temporary directory, and runCli capturing stdout and stderr. */
export function servedApp() {
  const dir = mkdtempSync(join(tmpdir(), "netlet-cli-app-"));
  const socket = join(dir, "admin.sock");
  const store = memStore();
  // The agent's log is not the CLI's output: the captured stderr holds what the CLI prints only.
  const log = createLogger({ write: () => {} });
  const server = Bun.serve({ unix: socket, fetch: createAdminApp({ store, config: defaultConfig(), log }).fetch });
  const cli = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
    try {
      const code = await runCli(argv, (s) => out.push(s));
      return { code, out: out.join("\n"), err: err.join("") };
    } finally {
      process.stderr.write = write;
    }
  };
  const close = () => {
    server.stop(true);
    rmSync(dir, { recursive: true, force: true });
  };
  return { dir, socket, store, cli, close };
}
