/**
 * Kernel change feeds as line streams: `nft monitor` (someone changed a table) and
 * `ip monitor link` (a port joined or left a bridge). Each runs as a long-lived child process,
 * restarted after a pause if it dies, so a crashed monitor only delays repairs.
 */
import type { Subprocess } from "bun";

export interface LineWatch {
  stop(): void;
}

export function watchLines(argv: string[], onLine: (line: string) => void, restartMs = 1000): LineWatch {
  let proc: Subprocess<"ignore", "pipe", "ignore"> | null = null;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const start = () => {
    if (stopped) return;
    try {
      proc = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
    } catch {
      timer = setTimeout(start, restartMs);
      return;
    }
    const p = proc;
    void (async () => {
      const decoder = new TextDecoder();
      let buf = "";
      for await (const chunk of p.stdout) {
        buf += decoder.decode(chunk, { stream: true });
        let i: number;
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.trim()) onLine(line);
        }
        // A line never grows without bound: a monitor that prints no newline is cut.
        if (buf.length > 65536) buf = "";
      }
      await p.exited;
      if (!stopped) timer = setTimeout(start, restartMs);
    })();
  };
  start();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      proc?.kill();
    },
  };
}

/** Calls `fn` once, `delayMs` after the last of a burst of `poke()`s. */
export function debounce(fn: () => void, delayMs: number): { poke(): void; cancel(): void } {
  let t: ReturnType<typeof setTimeout> | null = null;
  return {
    poke() {
      if (t) clearTimeout(t);
      t = setTimeout(() => {
        t = null;
        fn();
      }, delayMs);
    },
    cancel() {
      if (t) clearTimeout(t);
    },
  };
}
