/** The instance DNS service as the agent runs it, with its diagnostics query for the admin API. */
import type { Config } from "../config/load.ts";
import type { Logger } from "../log.ts";
import { DnsService } from "../dns/service.ts";
import { parseQueryInput, queryJson } from "../dns/diagnose.ts";

export function startDns(config: Config, log: Logger) {
  // flat mode hands out no DHCP and owns no bridge address to listen on, as nova's had no dnsmasq.
  if (!config.dnsService || config.networkManager === "flat") return null;
  const l = log.child({ component: "dns" });
  const rate = config.dnsRateLimit;
  const dns = new DnsService({
    log: l,
    rateLimit: { perSecond: rate, burst: rate * 2, maxSources: 4096 },
  });
  const alarms = () => [
    ...dns
      .status()
      .filter((x) => x.state.startsWith("not listening"))
      .map((x) => `dns: ${x.address} (${x.bridge}) ${x.state}`),
  ];
  const query = async (name: string | undefined, type: string | undefined) => {
    const input = parseQueryInput(name, type);
    if (!input.ok)
      return { status: 400 as const, body: { error: input.error, field: input.error.split(" ")[0].replace(/:$/, "") } };
    return { status: 200 as const, body: queryJson(input.name, input.type, await dns.query(input.name, input.type)) };
  };
  return { dns, query, alarms, stop: () => dns.stop() };
}
