/** dns query: ask the agent's DNS service as a guest would, and see where the answer came from. */
import { table } from "../table.ts";
import { print, strOpt, type Verb } from "../verb.ts";
import { UsageError } from "../errors.ts";

interface QueryJson {
  name: string;
  type: string;
  listener: string | null;
  source: string;
  rcode: string;
  records: { name: string; type: string; ttl: number; data: string }[];
  authority: { name: string; type: string; ttl: number; data: string }[];
}

export const dnsVerbs: Verb[] = [
  {
    name: "dns query",
    summary:
      "Resolve NAME (or the PTR of an IP address) through this host's instance DNS service: zone, cache or upstream.",
    args: ["NAME"],
    options: { type: { type: "string", arg: "TYPE", help: "record type (default A; PTR for an IP address)" } },
    read: true,
    async run(ctx) {
      const name = ctx.args[0];
      if (!name) throw new UsageError("netlet dns query: NAME is required");
      const type = strOpt(ctx, "type");
      const r = await ctx.api.call<QueryJson>(
        "GET",
        `/v1/dns/query?name=${encodeURIComponent(name)}${type ? `&type=${encodeURIComponent(type)}` : ""}`,
      );
      print(ctx, r, () =>
        [
          `${r.name} ${r.type}: ${r.rcode} from ${r.source}${r.listener ? ` (as seen on ${r.listener})` : ""}`,
          r.records.length
            ? table(
                ["name", "type", "TTL", "data"],
                r.records.map((x) => [x.name, x.type, String(x.ttl), x.data]),
              )
            : "(no records)",
          ...(r.authority.length
            ? [
                "authority:",
                table(
                  ["name", "type", "TTL", "data"],
                  r.authority.map((x) => [x.name, x.type, String(x.ttl), x.data]),
                ),
              ]
            : []),
        ].join("\n"),
      );
    },
  },
];
