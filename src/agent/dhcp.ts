/** The DHCP server as the agent runs it: leases in the store, internal errors raised as alarms. */
import type { Config } from "../config/load.ts";
import type { Logger } from "../log.ts";
import type { Store } from "../store/db.ts";
import { DhcpService } from "../dhcp/service.ts";
import { storeLeaseStore } from "./dhcp-leases.ts";
import type { Alarms } from "./alarms.ts";

/** How long a DHCP internal error keeps its alarm raised after the last one. */
const DHCP_ALARM_TTL_MS = 10 * 60_000;

export function startDhcp(store: Store, config: Config, log: Logger, alarms?: Alarms) {
  const l = log.child({ component: "dhcp" });
  const dhcp = new DhcpService({
    leases: storeLeaseStore(store),
    forceRelease: config.forceDhcpRelease,
    log: {
      ...l,
      error: (msg, fields) => {
        l.error(msg, fields);
        // A request the server could not answer: the client gets no lease, so say so where operators look.
        alarms?.event(
          "dhcp.internal_error",
          `${msg} on ${String(fields?.bridge ?? "?")}: ${String(fields?.err ?? "")}`,
          DHCP_ALARM_TTL_MS,
        );
      },
    },
    onEvent: (e) => l.info(e.type, { mac: e.mac, ip: e.address, network: e.networkId }),
  });
  return { dhcp, stop: () => dhcp.stop() };
}
