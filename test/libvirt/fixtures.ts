/** Domain XML and an in-memory admin API for the libvirt hook's tests. */
import { createAdminApp } from "../../src/api/app.ts";
import { defaultConfig } from "../../src/config/load.ts";
import { memStore } from "../store/fixtures.ts";
import { HookError, parseDomain } from "../../src/libvirt/domain.ts";
import { AgentRefused } from "../../src/libvirt/agent-call.ts";
import { applyHook, type ApiCaller } from "../../src/libvirt/hook.ts";
import { planHook, type InstanceView, type NetworkView } from "../../src/libvirt/plan.ts";

export const UUID = "0c0ffee0-1111-4222-8333-444455556666";
export const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl demo@host";

export function domainXml(o: { name?: string; uuid?: string; ifaces?: string[]; metadata?: string } = {}): string {
  const ifaces = o.ifaces ?? [
    `<interface type='bridge'><mac address='52:54:00:12:34:56'/><source bridge='br100'/><model type='virtio'/></interface>`,
  ];
  return `<domain type='qemu'>
  <name>${o.name ?? "vm1"}</name>
  <uuid>${o.uuid ?? UUID}</uuid>
  ${o.metadata === undefined ? "" : `<metadata>${o.metadata}</metadata>`}
  <memory unit='KiB'>131072</memory>
  <devices>${ifaces.join("\n")}</devices>
</domain>`;
}

export const netletMeta = (inner: string, prefix = "netlet") =>
  `<${prefix}:instance xmlns:${prefix}="urn:netlet:libvirt:1">${inner}</${prefix}:instance>`;

/** The admin API on an in-memory store; `hook` plans an operation and makes its calls, as the shell does. */
export function apiSetup() {
  const store = memStore();
  const app = createAdminApp({ store, config: defaultConfig() });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await app.request(path, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as any };
  };
  // The hook's real shell logic (applyHook), with the admin app in-process instead of the socket.
  const caller: ApiCaller = async <T>(method: string, path: string, body?: unknown) => {
    const r = await call(method, path, body);
    if (r.status >= 300) throw new AgentRefused(String(r.json.error), r.status);
    return r.json as T;
  };
  const hook = async (op: string, xml: string) => {
    const dom = parseDomain(xml);
    const nets = (await call("GET", "/v1/networks")).json as NetworkView[];
    const got = await call("GET", `/v1/instances/${dom.uuid}`);
    const plan = planHook(op, dom, nets, got.status === 404 ? null : (got.json as InstanceView));
    try {
      await applyHook(op, xml, caller, { startWhenAgentDown: false, warn: () => {} });
    } catch (err) {
      throw err instanceof HookError ? err : new Error(String(err));
    }
    return plan;
  };
  return { store, call, hook };
}
