/**
 * EUI-64 interface identifiers (RFC 4291 appendix A, as nova's rfc2462 backend): the MAC split in
 * half with ff:fe inserted and the universal/local bit flipped, placed in a /64 prefix.
 */
import ipaddr from "ipaddr.js";
import { macBytes } from "./mac.ts";
import { parseCidr6 } from "./ip.ts";

export function interfaceId(mac: string): number[] {
  const m = macBytes(mac);
  return [m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]];
}

/** The SLAAC address a Linux guest with `mac` forms in `prefix` (which must be a /64). */
export function eui64(mac: string, prefix: string): string {
  const c = parseCidr6(prefix);
  if (c.prefix !== 64) throw new RangeError(`Cannot form an EUI-64 address in "${prefix}": SLAAC needs a /64 prefix`);
  return ipaddr.fromByteArray([...c.bytes.slice(0, 8), ...interfaceId(mac)]).toString();
}

/** The fe80::/64 link-local address of `mac`. */
export function linkLocal(mac: string): string {
  return eui64(mac, "fe80::/64");
}
