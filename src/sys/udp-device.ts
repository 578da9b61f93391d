/**
 * A UDP socket that lives on one network device, for the DHCP server: SO_BINDTODEVICE before
 * bind(0.0.0.0:port) lets one socket per bridge share port 67, hear broadcasts and unicasts on
 * that bridge only, and send limited broadcasts out of it. The fd is then handed to Bun's event
 * loop (node:dgram `bind({fd})`), so the receive path is an ordinary non-blocking callback.
 *
 * SO_NO_CHECK makes the kernel send a zero UDP checksum ("none" in IPv4) instead of leaving a
 * partial one that offloading veth/bridge/tap paths deliver unfinished to guests (nova needed an
 * iptables CHECKSUM rule for this).
 */
import ipaddr from "ipaddr.js";
import { tryMacBytes } from "../net/mac.ts";
import * as libc from "./libc.ts";

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0x800;
const SOCK_CLOEXEC = 0x80000;
const SOL_SOCKET = 1;
const SO_BROADCAST = 6;
const SO_NO_CHECK = 11;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;
/** Room for a burst of ~1,000 requests while the event loop is busy; still a hard bound. */
const RCVBUF_BYTES = 1 << 20;
const SO_BINDTODEVICE = 25;
const IPPROTO_IP = 0;
const IP_TOS = 1;
/** DSCP CS6 (network control), as dnsmasq marks DHCP. */
const TOS_CS6 = 0xc0;
const SIOCSARP = 0x8955;
const ARPHRD_ETHER = 1;
const ATF_COM = 2;

function int(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v, true);
  return b;
}

function sockaddrIn(address: string, port: number): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint16(0, AF_INET, true);
  v.setUint16(2, port, false);
  b.set(ipaddr.IPv4.parse(address).toByteArray(), 4);
  return b;
}

/**
 * A non-blocking UDP socket bound to `device` and to 0.0.0.0:`port`, with SO_BROADCAST and
 * SO_NO_CHECK. Returns the fd; the caller adopts it into the event loop (which then owns it) or
 * closes it with `libc.close`.
 */
export function openDeviceUdpSocket(device: string, port: number): number {
  const fd = libc.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  try {
    libc.setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, libc.cstr(device));
    libc.setsockopt(fd, SOL_SOCKET, SO_BROADCAST, int(1));
    libc.setsockopt(fd, SOL_SOCKET, SO_NO_CHECK, int(1));
    libc.setsockopt(fd, IPPROTO_IP, IP_TOS, int(TOS_CS6));
    setReceiveBuffer(fd);
    libc.bind(fd, sockaddrIn("0.0.0.0", port));
    return fd;
  } catch (e) {
    libc.close(fd);
    throw e;
  }
}

/** SO_RCVBUFFORCE passes net.core.rmem_max (needs CAP_NET_ADMIN); else the capped SO_RCVBUF. */
function setReceiveBuffer(fd: number): void {
  try {
    libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, int(RCVBUF_BYTES));
  } catch {
    libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, int(RCVBUF_BYTES));
  }
}

/**
 * Puts `address` → `mac` into `device`'s ARP table (SIOCSARP, struct arpreq), so that a reply
 * can be unicast to a client that has no address yet (RFC 2131 §4.1), as dnsmasq does.
 */
export function setArpEntry(fd: number, device: string, address: string, mac: string): void {
  const hw = tryMacBytes(mac);
  if (!hw) throw new TypeError(`not a MAC address: ${mac}`);
  const req = new Uint8Array(68);
  const v = new DataView(req.buffer);
  req.set(sockaddrIn(address, 0), 0); // arp_pa
  v.setUint16(16, ARPHRD_ETHER, true); // arp_ha.sa_family
  req.set(hw, 18); // arp_ha.sa_data
  v.setInt32(32, ATF_COM, true); // arp_flags
  req.set(libc.cstr(device).subarray(0, 15), 52); // arp_dev
  libc.ioctl(fd, SIOCSARP, req);
}

export { ifNameToIndex, SysError } from "./libc.ts";
