/**
 * A guest that moved here (live migration) still holds the old host's MAC for its gateway
 * address when every host shares that address (share_dhcp_address): its next packets would
 * cross the segment to the old host. An unsolicited ARP reply for the gateway, from this host's
 * bridge MAC, sent on the guest's own port (not through the bridge, so no other guest and no
 * other host hears it), moves the guest's neighbour entry here at once.
 */
import { readFileSync } from "node:fs";
import { spawnExec, type Exec } from "../sys/exec.ts";

/** arping's argv: Debian's arping (Habets), -U -P = unsolicited reply, -s the sender MAC. */
export function gatewayArpArgv(port: string, gateway: string, mac: string, count = 2): string[] {
  const n = String(count);
  return ["arping", "-U", "-P", "-q", "-c", n, "-w", n, "-i", port, "-s", mac, "-S", gateway, gateway];
}

/** Announce `gateway` of `bridge` on `port`; never waited for, never fatal. */
export function announceGateway(
  port: string,
  bridge: string,
  gateway: string,
  log: (line: string) => void,
  exec: Exec = spawnExec(),
): void {
  let mac: string;
  try {
    mac = readFileSync(`/sys/class/net/${bridge}/address`, "utf8").trim();
  } catch {
    return log(`migration: cannot announce gateway ${gateway}: bridge ${bridge} is missing`);
  }
  void exec(gatewayArpArgv(port, gateway, mac)).then((r) => {
    if (r.code !== 0 && r.code !== 1) log(`migration: arping for gateway ${gateway} on ${port} exited ${r.code}`);
  });
}
