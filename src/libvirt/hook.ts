/**
 * `netlet libvirt hook DOMAIN OPERATION SUB-OPERATION EXTRA`: the program libvirt runs as
 * /etc/libvirt/hooks/qemu, with the domain XML on stdin. The decisions are in plan.ts; this shell
 * reads stdin, asks the agent for networks and the instance, and makes the planned calls.
 * Exit status: non-zero refuses a start (libvirt prints the one line this writes on stderr);
 * at stopped/release libvirt ignores it, so failures there are warnings.
 */
import { AgentDown, AgentRefused, agentCall } from "./agent-call.ts";
import { HookError, MAX_DOMAIN_XML, parseDomain } from "./domain.ts";
import {
  MIGRATE_OPS,
  PLUG_OPS,
  planHook,
  REGISTER_OPS,
  UNPLUG_OPS,
  type InstanceView,
  type NetworkView,
} from "./plan.ts";

export interface HookOptions {
  socket: string;
  timeoutMs: number;
  /** Let the domain start when the agent is unreachable (it is reconciled when the agent returns). */
  startWhenAgentDown: boolean;
  warn: (line: string) => void;
}

export async function readStdin(max = MAX_DOMAIN_XML): Promise<string> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of Bun.stdin.stream()) {
    n += c.length;
    if (n > max) throw new HookError(`domain XML on stdin exceeds ${max} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * libvirt has just created this tap for this domain, so a binding of the same name to another
 * instance is stale (its domain stopped while nobody told the agent, and libvirt reused the
 * name). Withdraw it; returns false when no other instance holds the name.
 */
async function releaseStaleTap(call: ApiCaller, tap: string): Promise<boolean> {
  const all = await call<{ uuid: string; ports: { port?: string | null }[] }[]>("GET", "/v1/instances");
  const holder = all.find((i) => i.ports.some((p) => p.port === tap));
  if (!holder) return false;
  await call("POST", `/v1/instances/${holder.uuid}/unplug`, { port: tap });
  return true;
}

/** One admin API request; throws AgentRefused for a non-2xx answer and AgentDown when unreachable. */
export type ApiCaller = <T>(method: string, path: string, body?: unknown) => Promise<T>;

/** Runs one hook invocation; throws HookError (one line) when the start must be refused. */
export async function runHook(op: string, xml: string, o: HookOptions): Promise<void> {
  await applyHook(op, xml, (method, path, body) => agentCall(o.socket, method, path, body, o.timeoutMs), o);
}

/** The hook's work through any admin API caller (the socket for libvirt, in-process for the agent's reconciler). */
export async function applyHook(
  op: string,
  xml: string,
  call: ApiCaller,
  o: Pick<HookOptions, "startWhenAgentDown" | "warn">,
): Promise<void> {
  const acting = REGISTER_OPS.has(op) || PLUG_OPS.has(op) || UNPLUG_OPS.has(op) || MIGRATE_OPS.has(op);
  if (!acting) return;
  const dom = parseDomain(xml);
  // A domain with no bridged interface and no netlet metadata is none of netlet's business: the
  // agent is not even asked, so its absence cannot stop unrelated guests.
  if (!dom.metadata && !dom.interfaces.some((i) => i.bridge)) return;
  if (op === "prepare" && dom.interfaces.some((i) => i.type === "network" && !i.bridge)) return; // see planHook
  try {
    const networks = await call<NetworkView[]>("GET", "/v1/networks");
    const inst = await call<InstanceView>("GET", `/v1/instances/${dom.uuid}`).catch((err) => {
      if (err instanceof AgentRefused && err.status === 404) return null;
      throw err;
    });
    // The host this agent runs as: the target of an incoming migration, the judge of "moved away".
    const self =
      MIGRATE_OPS.has(op) || UNPLUG_OPS.has(op)
        ? (await call<{ node: { id: string } }>("GET", "/v1/status")).node.id
        : null;
    for (const c of planHook(op, dom, networks, inst, self)) {
      try {
        await call(c.method, c.path, c.body);
      } catch (err) {
        if (c.allowMissing && err instanceof AgentRefused && (err.status === 404 || err.status === 409)) continue;
        if (
          !(
            c.path.endsWith("/plug") &&
            err instanceof AgentRefused &&
            err.status === 409 &&
            (await releaseStaleTap(call, c.body?.port as string))
          )
        )
          throw err;
        await call(c.method, c.path, c.body);
      }
    }
  } catch (err) {
    if (err instanceof HookError) throw err;
    const msg = `domain ${dom.name}: ${(err as Error).message}`;
    if (UNPLUG_OPS.has(op)) return o.warn(`warning: ${msg}`);
    if (err instanceof AgentDown && o.startWhenAgentDown)
      return o.warn(`warning: ${msg}; the domain starts unserved and is registered when the agent reconciles`);
    throw new HookError(
      err instanceof AgentDown ? `${msg}; start the agent, or install the hook with --on-agent-down start` : msg,
    );
  }
}
