/** floating create|list|delete (nova-manage) and floating-ip-create|delete|associate|disassociate (nova). */
import type { FloatingIp } from "../../model.ts";
import { UsageError } from "../errors.ts";
import { table } from "../table.ts";
import { print, strOpt, type Verb } from "../verb.ts";

const s = (help: string, arg: string) => ({ type: "string" as const, help, arg });

/** nova-manage floating create|list|delete, and nova's floating-ip-bulk-create|list|delete: the same verbs. */
const rangeVerbs = (create: string, list: string, del: string): Verb[] => [
  {
    name: create,
    summary: "Create floating IPs: one address or a CIDR's host addresses.",
    args: ["IP_RANGE?"],
    options: {
      pool: s("pool name (default default_floating_pool)", "POOL"),
      ip_range: s("address or CIDR", "CIDR"),
      interface: s("interface the addresses are added to (default public_interface)", "IFACE"),
    },
    read: true,
    async run(ctx) {
      const range = strOpt(ctx, "ip_range") ?? ctx.args[0];
      if (!range) throw new UsageError(`${create}: --ip_range CIDR is required`);
      const ips = await ctx.api.call<FloatingIp[]>("POST", "/v1/floating-ranges", {
        pool: strOpt(ctx, "pool") ?? undefined,
        ip_range: range,
        interface: strOpt(ctx, "interface"),
      });
      print(ctx, ips, () => `created ${ips.length} floating IP(s) in pool ${ips[0]?.pool}`);
    },
  },
  {
    name: list,
    summary: "List floating IPs: project, address, instance, pool, interface, serving host.",
    options: { host: s("only addresses served by this host", "HOST") },
    read: true,
    async run(ctx) {
      const q = strOpt(ctx, "host") ? `?host=${encodeURIComponent(strOpt(ctx, "host")!)}` : "";
      const ips = await ctx.api.call<FloatingIp[]>("GET", `/v1/floating-ips${q}`);
      print(ctx, ips, () => floatingTable(ips));
    },
  },
  {
    name: del,
    summary: "Delete floating IPs (refused for associated ones).",
    args: ["IP_RANGE?"],
    options: { ip_range: s("address or CIDR", "CIDR") },
    async run(ctx) {
      const range = strOpt(ctx, "ip_range") ?? ctx.args[0];
      if (!range) throw new UsageError(`${del}: --ip_range CIDR is required`);
      const r = await ctx.api.call<{ deleted: number }>("POST", "/v1/floating-ranges/delete", { ip_range: range });
      ctx.out(`deleted ${r.deleted} floating IP(s)`);
    },
  },
];

export const floatingVerbs: Verb[] = [
  ...rangeVerbs("floating create", "floating list", "floating delete"),
  ...rangeVerbs("floating-ip-bulk-create", "floating-ip-bulk-list", "floating-ip-bulk-delete"),
  {
    name: "floating-ip-list",
    summary: "List the floating IPs allocated to projects (nova floating-ip-list): address, instance, fixed IP, pool.",
    options: { "project-id": s("only this project's", "ID") },
    read: true,
    async run(ctx) {
      const p = strOpt(ctx, "project-id");
      const ips = (await ctx.api.call<FloatingIp[]>("GET", "/v1/floating-ips")).filter(
        (f) => f.projectId !== null && (p === null || f.projectId === p),
      );
      print(ctx, ips, () =>
        table(
          ["Id", "IP", "Server Id", "Fixed IP", "Pool"],
          ips.map((f) => [f.address, f.address, f.instanceUuid ?? "-", f.fixedAddress ?? "-", f.pool]),
        ),
      );
    },
  },
  {
    name: "floating-ip-pool-list",
    summary: "List floating IP pools (nova floating-ip-pool-list).",
    read: true,
    async run(ctx) {
      const pools = await ctx.api.call<{ name: string }[]>("GET", "/v1/floating-ip-pools");
      print(ctx, pools, () =>
        table(
          ["name"],
          pools.map((p) => [p.name]),
        ),
      );
    },
  },
  {
    name: "floating-ip-create",
    summary: "Allocate a floating IP to the project from POOL (default default_floating_pool).",
    args: ["POOL?"],
    options: { "project-id": s("project (default admin)", "ID") },
    read: true,
    async run(ctx) {
      const f = await ctx.api.call<FloatingIp>("POST", "/v1/floating-ips", {
        pool: ctx.args[0] ?? null,
        project_id: strOpt(ctx, "project-id") ?? undefined,
      });
      print(ctx, f, () => floatingTable([f]));
    },
  },
  {
    name: "floating-ip-delete",
    summary: "Return a floating IP to its pool (refused while associated).",
    args: ["IP"],
    async run(ctx) {
      await ctx.api.call("DELETE", `/v1/floating-ips/${encodeURIComponent(ctx.args[0])}`);
      ctx.out(`released ${ctx.args[0]}`);
    },
  },
  {
    name: "floating-ip-associate",
    summary: "Associate a floating IP with an instance's first fixed IP (or --fixed-address).",
    args: ["INSTANCE", "IP"],
    options: { "fixed-address": s("which of the instance's fixed IPs", "IP") },
    async run(ctx) {
      const f = await ctx.api.call<FloatingIp>(
        "POST",
        `/v1/floating-ips/${encodeURIComponent(ctx.args[1])}/associate`,
        { instance: ctx.args[0], fixed_address: strOpt(ctx, "fixed-address") },
      );
      ctx.out(`${f.address} → ${f.fixedAddress} (${ctx.args[0]})`);
    },
  },
  {
    name: "floating-ip-disassociate",
    summary: "Disassociate a floating IP from its instance.",
    args: ["INSTANCE", "IP"],
    async run(ctx) {
      await ctx.api.call("POST", `/v1/floating-ips/${encodeURIComponent(ctx.args[1])}/disassociate`);
      ctx.out(`${ctx.args[1]} disassociated from ${ctx.args[0]}`);
    },
  },
];

function floatingTable(ips: FloatingIp[]): string {
  return table(
    ["project", "address", "instance", "fixed address", "pool", "interface", "host"],
    ips.map((f) => [f.projectId, f.address, f.instanceUuid, f.fixedAddress, f.pool, f.interface, f.host]),
  );
}
