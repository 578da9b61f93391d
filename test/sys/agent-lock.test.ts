/** One agent per host: the state-directory lock and the admin socket that is never taken from a live agent. */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AgentConflict, claimSocket, lockStateDir, socketInode } from "../../src/sys/agent-lock.ts";

const dir = mkdtempSync(join(tmpdir(), "netlet-lock-"));
const LOCK = join(import.meta.dir, "..", "..", "src", "sys", "agent-lock.ts");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Another process trying the lock: what it printed, and its exit code. */
function otherProcessLocks(state: string): { code: number; out: string } {
  const script = `import { lockStateDir } from ${JSON.stringify(LOCK)};
try { lockStateDir(${JSON.stringify(state)}); console.log("locked"); } catch (e) { console.log(e.message); process.exit(1); }`;
  const r = Bun.spawnSync([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, out: r.stdout.toString().trim() };
}

describe("one agent per state directory", () => {
  test("a second process is refused with the holder's pid; the lock is free again once released", () => {
    const state = join(dir, "state");
    const lock = lockStateDir(state);
    expect(readFileSync(join(state, "agent.lock"), "utf8").trim()).toBe(String(process.pid));
    const second = otherProcessLocks(state);
    expect(second).toEqual({
      code: 1,
      out: `another agent (pid ${process.pid}) serves ${state}: stop it first, or give this one another state_path`,
    });
    lock.release();
    expect(otherProcessLocks(state)).toEqual({ code: 0, out: "locked" });
  });

  test("a lock held by a process that died is not stale: the kernel released it", () => {
    const state = join(dir, "crashed");
    const script = `import { lockStateDir } from ${JSON.stringify(LOCK)}; lockStateDir(${JSON.stringify(state)}); process.kill(process.pid, "SIGKILL");`;
    Bun.spawnSync([process.execPath, "-e", script]);
    expect(existsSync(join(state, "agent.lock"))).toBe(true);
    const lock = lockStateDir(state);
    lock.release();
  });
});

describe("the admin socket", () => {
  test("a socket a live process serves is refused and left in place", async () => {
    const path = join(dir, "live.sock");
    const server = Bun.serve({ unix: path, fetch: () => new Response("first") });
    try {
      const err = await claimSocket(path).catch((e) => e);
      expect(err).toBeInstanceOf(AgentConflict);
      expect(err.message).toBe(
        `another agent serves the admin socket ${path}: stop it first, or set admin_socket / --socket to another path`,
      );
      const res = await fetch("http://x/", { unix: path } as RequestInit);
      expect(await res.text()).toBe("first");
    } finally {
      server.stop(true);
    }
  });

  test("a stale socket (its process died) is replaced; at shutdown only our own socket is removed", async () => {
    const path = join(dir, "stale.sock");
    const script = `Bun.serve({ unix: ${JSON.stringify(path)}, fetch: () => new Response("x") }); process.kill(process.pid, "SIGKILL");`;
    Bun.spawnSync([process.execPath, "-e", script]);
    expect(existsSync(path)).toBe(true);
    const unlink = await claimSocket(path);
    expect(existsSync(path)).toBe(false);
    const server = Bun.serve({ unix: path, fetch: () => new Response("ours") });
    const ino = socketInode(path);
    // Someone else replaced the socket in the meantime: their socket stays.
    unlink(ino === null ? null : ino + 1);
    expect(existsSync(path)).toBe(true);
    unlink(ino);
    expect(existsSync(path)).toBe(false);
    server.stop(true);
    expect(() => statSync(path)).toThrow();
  });
});
