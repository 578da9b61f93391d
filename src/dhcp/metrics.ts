/** DHCP counters, in the agent's one registry (rendered on /metrics). */
import { counter, registry, type Counter, type Registry } from "../metrics.ts";

export interface DhcpMetrics {
  /** Requests by message type (`type` label: discover, request, …, or "unknown"). */
  received: Counter;
  /** Replies by message type (offer, ack, nak). */
  sent: Counter;
  /** Dropped packets by `reason` (decode errors, unknown_mac, rate_mac, …). */
  dropped: Counter;
  /** Send failures by `error` code. */
  sendErrors: Counter;
  /** Lease events by `type` (lease.added, …). */
  leaseEvents: Counter;
  /** Options left out of replies for lack of room (client's option 57), by `option` code. */
  optionsOmitted: Counter;
}

export function dhcpMetrics(reg: Registry = registry): DhcpMetrics {
  return {
    received: counter("netlet_dhcp_received_total", "DHCP requests received, by message type", reg),
    sent: counter("netlet_dhcp_sent_total", "DHCP replies sent, by message type", reg),
    dropped: counter("netlet_dhcp_dropped_total", "DHCP packets dropped, by reason", reg),
    sendErrors: counter("netlet_dhcp_send_errors_total", "DHCP replies that could not be sent, by error", reg),
    leaseEvents: counter("netlet_dhcp_lease_events_total", "DHCP lease events, by type", reg),
    optionsOmitted: counter(
      "netlet_dhcp_options_omitted_total",
      "DHCP options left out of replies for lack of room, by option code",
      reg,
    ),
  };
}
