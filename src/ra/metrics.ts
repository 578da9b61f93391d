/** The RA module's counters, created once per service from the agent's registry. */
import { counter, registry, type Counter, type Registry } from "../metrics.ts";

export interface RaMetrics {
  /** RAs sent, labels bridge and kind (multicast | unicast | final). */
  sent: Counter;
  /** Router Solicitations that passed validation, label bridge. */
  solicitations: Counter;
  /** Datagrams and solicitations dropped, labels bridge and reason. */
  dropped: Counter;
  /** sendmsg failures, labels bridge and errno. */
  sendErrors: Counter;
}

export function raMetrics(reg: Registry = registry): RaMetrics {
  return {
    sent: counter("netlet_ra_sent_total", "Router Advertisements sent", reg),
    solicitations: counter("netlet_ra_solicitations_total", "Valid Router Solicitations received", reg),
    dropped: counter("netlet_ra_dropped_total", "ICMPv6 datagrams or solicitations dropped, by reason", reg),
    sendErrors: counter("netlet_ra_send_errors_total", "Router Advertisements the kernel refused to send", reg),
  };
}
