/**
 * How netlet runs a command (nft, iptables-restore, ip, virsh, the doctor's probes): one seam,
 * so tests pass a scripted fake. The real one uses Bun.spawn so that a 2-second ruleset load
 * never blocks the event loop. Long-lived children (nft/ip monitors, the lab's agents and
 * guests) are spawned where they are supervised.
 */

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Stdin text: whole, or in pieces written one by one (so a large input never blocks the event
 * loop), possibly produced while the command already reads the first ones.
 */
export type Stdin = string | Iterable<string> | AsyncIterable<string>;

/** Runs argv with optional stdin text; never throws for a non-zero exit. */
export type Exec = (argv: string[], stdin?: Stdin) => Promise<ExecResult>;

/** The whole text of a stdin (for fakes and logs). */
export async function stdinText(stdin: Stdin | undefined): Promise<string | undefined> {
  if (stdin === undefined || typeof stdin === "string") return stdin;
  let out = "";
  for await (const piece of stdin) out += piece;
  return out;
}

/**
 * The real exec. `prefix` is prepended to every argv, e.g. `["ip", "netns", "exec", ns]` to
 * run inside a namespace (tests, benchmarks).
 */
export function spawnExec(prefix: string[] = [], opts: { timeoutMs?: number } = {}): Exec {
  return async function spawnExec(argv, stdin) {
    const p = Bun.spawn([...prefix, ...argv], {
      stdin: stdin === undefined ? "ignore" : typeof stdin === "string" ? new TextEncoder().encode(stdin) : "pipe",
      stdout: "pipe",
      stderr: "pipe",
      // A command that hangs (a wedged libvirtd) is killed; its exit code says so.
      ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
    });
    const out = Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (stdin !== undefined && typeof stdin !== "string") {
      const sink = p.stdin as import("bun").FileSink;
      try {
        // One write in flight while the next piece is produced: the command reads (nft parses)
        // one piece while the caller renders the next.
        let pending: unknown = null;
        for await (const piece of stdin) {
          await pending;
          sink.write(piece);
          pending = sink.flush();
        }
        await pending;
        await sink.end();
      } catch {
        // The process exited early; its exit code and stderr say why.
      }
    }
    const [stdout, stderr, code] = await out;
    return { code, stdout, stderr };
  };
}

/** Throws with the command's stderr when it failed. */
export function check(argv: string[], r: ExecResult): ExecResult {
  if (r.code !== 0)
    throw new Error(`Cannot run "${argv.join(" ")}": exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 2000)}`);
  return r;
}
