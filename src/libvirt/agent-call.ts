/**
 * The hook's admin API client: one Unix-socket request with a deadline. libvirt waits for the
 * hook while it holds the domain's lock, so a hung agent must cost seconds, not a stuck libvirtd.
 */
import { existsSync } from "node:fs";

export class AgentDown extends Error {}
export class AgentRefused extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export async function agentCall<T>(
  socket: string,
  method: string,
  path: string,
  body: unknown,
  timeoutMs: number,
): Promise<T> {
  if (!existsSync(socket)) throw new AgentDown(`no netlet agent is listening on ${socket}`);
  let res: Response;
  try {
    res = await fetch(`http://netlet${path}`, {
      method,
      unix: socket,
      signal: AbortSignal.timeout(timeoutMs),
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    } as RequestInit);
  } catch (err) {
    const why = (err as Error).name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : (err as Error).message;
    throw new AgentDown(`cannot reach the netlet agent on ${socket}: ${why}`);
  }
  const data = (await res.json().catch(() => ({ error: `agent answered ${res.status} without JSON` }))) as Record<
    string,
    unknown
  >;
  if (!res.ok)
    throw new AgentRefused(
      `${String(data.error ?? res.statusText)}${data.field ? ` (${String(data.field)})` : ""}`,
      res.status,
    );
  return data as T;
}
