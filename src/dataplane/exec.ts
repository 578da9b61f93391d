/**
 * The seam between the dataplane and the commands it runs (nft, iptables-restore, ip, …).
 * The real one uses Bun.spawn so that a 2-second ruleset load never blocks the event loop;
 * tests pass a scripted fake.
 */

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs argv with optional stdin text; never throws for a non-zero exit. */
export type Exec = (argv: string[], stdin?: string) => Promise<ExecResult>;

/**
 * The real exec. `prefix` is prepended to every argv, e.g. `["ip", "netns", "exec", ns]` to
 * run inside a namespace (tests, benchmarks).
 */
export function spawnExec(prefix: string[] = []): Exec {
  return async function spawnExec(argv, stdin) {
    const p = Bun.spawn([...prefix, ...argv], {
      stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { code, stdout, stderr };
  };
}

/** Throws with the command's stderr when it failed. */
export function check(argv: string[], r: ExecResult): ExecResult {
  if (r.code !== 0) throw new Error(`Cannot run "${argv.join(" ")}": exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 2000)}`);
  return r;
}
