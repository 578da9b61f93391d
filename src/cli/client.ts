/** The CLI's HTTP client for the agent's admin API over its Unix socket. */
import { accessSync, constants, existsSync } from "node:fs";
import { RuntimeError, UsageError } from "./errors.ts";
import { decodeWarnings, WARNING_HEADER } from "../api/warnings.ts";

export class ApiClient {
  constructor(
    readonly socket: string,
    /** Where the agent's warnings about a request go (valid but probably not what was meant). */
    readonly onWarning: (line: string) => void = (line) => process.stderr.write(`netlet: warning: ${line}\n`),
  ) {}

  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    if (!existsSync(this.socket)) {
      throw new RuntimeError(
        `no netlet agent is listening on ${this.socket}: start one with \`netlet agent\` (or pass --socket PATH / set NETLET_SOCKET)`,
      );
    }
    try {
      accessSync(this.socket, constants.R_OK | constants.W_OK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EACCES")
        throw new RuntimeError(`the agent's socket ${this.socket} is root-only: run as root (e.g. sudo netlet …)`);
    }
    let res: Response;
    try {
      res = await fetch(`http://netlet${path}`, {
        method,
        unix: this.socket,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      } as RequestInit);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EACCES")
        throw new RuntimeError(`the agent's socket ${this.socket} is root-only: run as root (e.g. sudo netlet …)`);
      throw new RuntimeError(
        `cannot reach the netlet agent on ${this.socket}: ${(err as Error).message}; is \`netlet agent\` running?`,
      );
    }
    for (const w of decodeWarnings(res.headers.get(WARNING_HEADER))) this.onWarning(w);
    const data = (await res.json().catch(() => ({ error: `agent answered ${res.status} without JSON` }))) as Record<
      string,
      unknown
    >;
    if (!res.ok) {
      const field = data.field ? ` (${String(data.field)})` : "";
      const msg = `${String(data.error ?? res.statusText)}${field}`;
      // The agent validated our input: a 400 is the user's argument, anything else a runtime failure.
      if (res.status === 400) throw new UsageError(msg);
      throw new RuntimeError(msg);
    }
    return data as T;
  }
}
