/**
 * The socket pair behind one advertising bridge: a raw ICMPv6 socket that sends RAs and
 * receives solicitations (with source and hop limit), plus a doorbell socket that wakes the
 * service as soon as a solicitation arrives. If the doorbell cannot be set up, the service's
 * periodic poll still reads the socket, only later.
 */
import { openDoorbell, RawIcmp6Socket, type Doorbell } from "../sys/raw6.ts";
import type { Icmp6Port } from "./advertiser.ts";
import { ICMP6_RS } from "./packet.ts";

export function openRsPort(ifname: string, wake: () => void): Icmp6Port {
  const sock = RawIcmp6Socket.open(ifname, { passTypes: [ICMP6_RS] });
  let bell: Doorbell | null = null;
  try {
    bell = openDoorbell(ifname, { passTypes: [ICMP6_RS] }, wake);
  } catch {
    bell = null;
  }
  return {
    ifindex: sock.ifindex,
    send: (data, dst, src) => sock.send(data, dst, src),
    receive: () => sock.receive(),
    close() {
      bell?.close();
      sock.close();
    },
  };
}
