/** Router advertisements as the agent runs them (only with use_ipv6). */
import type { Config } from "../config/load.ts";
import type { Logger } from "../log.ts";
import { RaService } from "../ra/service.ts";

export function startRa(config: Config, log: Logger) {
  if (!config.useIpv6) return null;
  const l = log.child({ component: "ra" });
  const ra = new RaService({ log: l });
  return { ra, stop: (o?: { withdraw?: boolean }) => ra.stop(o) };
}
