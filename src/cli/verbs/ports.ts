/** plug and unplug: declare (or clear) the host-side port of an instance's VIF. */
import { UsageError } from "../errors.ts";
import { print, strOpt, type Verb } from "../verb.ts";

const s = (help: string, arg = "VALUE") => ({ type: "string" as const, help, arg });

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
];
