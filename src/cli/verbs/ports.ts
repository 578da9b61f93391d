/** plug, unplug and migrate: declare (or clear) the host-side port of an instance's VIF, or move it here. */
import { readFileSync } from "node:fs";
import { UsageError } from "../errors.ts";
import { print, strOpt, type Verb } from "../verb.ts";

const s = (help: string, arg = "VALUE") => ({ type: "string" as const, help, arg });

interface Migrated {
  name: string;
  migrated: {
    from: string;
    to: string;
    moved: boolean;
    floating_ips: string[];
    leases: string[];
    plugged: { port: string; mac: string } | null;
  };
}

function migratedText(r: Migrated): string {
  const m = r.migrated;
  const lines = [
    m.moved ? `instance ${r.name} moved from ${m.from} to ${m.to}` : `instance ${r.name} already lives on ${m.to}`,
  ];
  if (m.floating_ips.length) lines.push(`floating IPs now served here: ${m.floating_ips.join(", ")}`);
  if (m.plugged) lines.push(`plugged ${m.plugged.port} as its port (MAC ${m.plugged.mac})`);
  return lines.join("\n");
}

function userDataArg(path: string | null): string | null {
  if (!path) return null;
  try {
    return readFileSync(path).toString("base64");
  } catch (err) {
    throw new UsageError(`--user-data ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

interface Plugged {
  name: string;
  uuid: string;
  plugged?: { port: string; mac: string };
  unplugged?: { port: string; mac: string }[];
}

export const portVerbs: Verb[] = [
  {
    name: "plug",
    summary:
      "Declare IFNAME (the guest's tap, vnet or veth) as the port of an instance's VIF; returns once its rules are applied.",
    args: ["INSTANCE"],
    options: {
      port: s("host-side interface of the VIF (required)", "IFNAME"),
      mac: s("the VIF, by its MAC (when the instance has several)", "MAC"),
      network: s("the VIF, by its network (when the instance has several)", "NETWORK"),
    },
    async run(ctx) {
      const port = strOpt(ctx, "port");
      if (!port) throw new UsageError("netlet plug: --port IFNAME is required");
      const r = await ctx.api.call<Plugged>("POST", `/v1/instances/${encodeURIComponent(ctx.args[0])}/plug`, {
        port,
        mac: strOpt(ctx, "mac"),
        network: strOpt(ctx, "network"),
      });
      print(ctx, r, () => `plugged ${r.plugged!.port} as the port of ${r.name} (MAC ${r.plugged!.mac})`);
    },
  },
  {
    name: "unplug",
    summary: "Clear the declared port(s) of an instance: its traffic stops, its addresses stay.",
    args: ["INSTANCE"],
    options: { port: s("only this port (default: every port of the instance)", "IFNAME") },
    async run(ctx) {
      const r = await ctx.api.call<Plugged>("POST", `/v1/instances/${encodeURIComponent(ctx.args[0])}/unplug`, {
        port: strOpt(ctx, "port"),
      });
      print(ctx, r, () => r.unplugged!.map((u) => `unplugged ${u.port} from ${r.name} (MAC ${u.mac})`).join("\n"));
    },
  },
  {
    name: "migrate",
    summary:
      "Live migration: make this host (--to-host, the one the guest moved to) the instance's home; the old host withdraws its port, rules and floating IPs.",
    args: ["INSTANCE"],
    options: {
      "to-host": s("the host the guest now runs on: this agent's host name (required)", "HOST"),
      port: s("declare the guest's new tap here at once (it must exist)", "IFNAME"),
      mac: s("the VIF of --port, by its MAC (when the instance has several)", "MAC"),
      "user-data": s("user data to serve here (it stays on the host that received it)", "FILE"),
    },
    async run(ctx) {
      const to = strOpt(ctx, "to-host");
      if (!to) throw new UsageError("netlet migrate: --to-host HOST is required");
      const r = await ctx.api.call<Migrated>("POST", `/v1/instances/${encodeURIComponent(ctx.args[0])}/migrate`, {
        to_host: to,
        port: strOpt(ctx, "port"),
        mac: strOpt(ctx, "mac"),
        user_data: userDataArg(strOpt(ctx, "user-data")),
      });
      print(ctx, r, () => migratedText(r));
    },
  },
];
