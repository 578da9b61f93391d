/**
 * One agent per host: an flock on `<state_path>/agent.lock` (released by the kernel when the
 * process dies, so a crash leaves no stale lock) and an admin socket that is only replaced when
 * nobody answers on it. A second agent is refused before it starts any module, so it never
 * sends a router advertisement or touches the first agent's socket.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync, ftruncateSync } from "node:fs";
import { join } from "node:path";
import { tryLockExclusive } from "./libc.ts";

export class AgentConflict extends Error {}

export interface StateLock {
  release(): void;
}

/** Lock the state directory, or throw AgentConflict naming the agent that holds it. */
export function lockStateDir(statePath: string): StateLock {
  mkdirSync(statePath, { recursive: true, mode: 0o700 });
  const path = join(statePath, "agent.lock");
  const fd = openSync(path, "a+", 0o600);
  if (!tryLockExclusive(fd)) {
    closeSync(fd);
    const pid = readFileSync(path, "utf8").trim() || "unknown";
    throw new AgentConflict(
      `another agent (pid ${pid}) serves ${statePath}: stop it first, or give this one another state_path`,
    );
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`);
  return { release: () => closeSync(fd) };
}

/** Whether a live process accepts connections on the Unix socket at `path`. */
export async function socketServed(path: string, timeoutMs = 1000): Promise<boolean> {
  try {
    statSync(path);
  } catch {
    return false;
  }
  try {
    const sock = await Promise.race([
      Bun.connect({ unix: path, socket: { data() {} } }),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), timeoutMs).unref()),
    ]);
    if (!sock) return true; // it exists and did not refuse: treat as served rather than steal it
    sock.end();
    return true;
  } catch {
    return false; // ECONNREFUSED: a stale socket left by a process that died
  }
}

/**
 * Make the socket path available: refuse when another process serves it, remove a stale one.
 * Returns a function that removes the socket later only if it is still the one we bound.
 */
export async function claimSocket(path: string): Promise<(boundIno: number | null) => void> {
  if (await socketServed(path)) {
    throw new AgentConflict(
      `another agent serves the admin socket ${path}: stop it first, or set admin_socket / --socket to another path`,
    );
  }
  rmSync(path, { force: true });
  return (boundIno) => {
    try {
      if (boundIno !== null && statSync(path).ino === boundIno) rmSync(path, { force: true });
    } catch {
      // Already gone.
    }
  };
}

/** Inode of the socket we just bound, to recognise it at shutdown. */
export function socketInode(path: string): number | null {
  try {
    return statSync(path).ino;
  } catch {
    return null;
  }
}
