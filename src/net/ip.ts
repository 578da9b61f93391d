/**
 * IPv4/IPv6 helpers over ipaddr.js: all parsing of address text goes through it. The numeric
 * form (an unsigned 32-bit integer) is used only for arithmetic and ordering; the byte form is
 * what DHCP puts on the wire.
 */
import ipaddr from "ipaddr.js";
import { BoundedCache } from "../util/bounded-cache.ts";

/** The unspecified address, used for empty header fields. */
export const ANY4 = "0.0.0.0";

export interface Cidr4 {
  /** Network address as a number. */
  base: number;
  prefix: number;
  size: number;
}

export function isIpv4(s: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(s);
}

export function isIpv6(s: string): boolean {
  return ipaddr.IPv6.isValid(s) && !ipaddr.IPv4.isValid(s);
}

export function ip4ToNum(s: string): number {
  const b = ipaddr.IPv4.parse(s).toByteArray();
  return ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3];
}

export function numToIp4(n: number): string {
  return ipaddr.fromByteArray([(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]).toString();
}

/** Parse "a.b.c.d/len"; throws a TypeError naming the value when it is not an IPv4 CIDR. */
export function parseCidr4(s: string): Cidr4 {
  let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    parsed = ipaddr.parseCIDR(s);
  } catch {
    throw new TypeError(`"${s}" is not a CIDR (expected e.g. 10.0.0.0/24)`);
  }
  const [addr, prefix] = parsed;
  if (addr.kind() !== "ipv4") throw new TypeError(`"${s}" is not an IPv4 CIDR`);
  const size = 2 ** (32 - prefix);
  const base = ip4ToNum(addr.toString()) - (ip4ToNum(addr.toString()) % size);
  return { base, prefix, size };
}

export function formatCidr4(c: Cidr4): string {
  return `${numToIp4(c.base)}/${c.prefix}`;
}

/** Dotted-quad netmask for a prefix length (0..32). */
export function netmask4(prefix: number): string {
  return ipaddr.IPv4.subnetMaskFromPrefixLength(prefix).toString();
}

/** Directed broadcast address of `address/prefixLength`. */
export function broadcast4(address: string, prefixLength: number): string {
  return ipaddr.IPv4.broadcastAddressFromCIDR(`${address}/${prefixLength}`).toString();
}

/** Parsed addresses: DHCP replies repeat the same few (server ids, gateways, relays) constantly. */
const parsedBytes = new BoundedCache<string, number[]>(8192);

/** Four octets of a dotted-quad address; throws on anything that is not one. */
export function ip4Bytes(text: string): number[] {
  const hit = parsedBytes.get(text);
  if (hit) return hit;
  if (!isIpv4(text)) throw new TypeError(`not an IPv4 address: ${text}`);
  const bytes = ipaddr.IPv4.parse(text).toByteArray();
  parsedBytes.set(text, bytes);
  return bytes;
}

/** Dotted-quad text of the four bytes at `off`. */
export function ip4Text(buf: Uint8Array, off = 0): string {
  return new ipaddr.IPv4([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]).toString();
}

export function cidr4Contains(c: Cidr4, n: number): boolean {
  return n >= c.base && n < c.base + c.size;
}

export function cidr4Overlaps(a: Cidr4, b: Cidr4): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size;
}

export interface Cidr6 {
  bytes: number[];
  prefix: number;
}

export function parseCidr6(s: string): Cidr6 {
  let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    parsed = ipaddr.parseCIDR(s);
  } catch {
    throw new TypeError(`"${s}" is not a CIDR (expected e.g. fd00:1::/64)`);
  }
  const [addr, prefix] = parsed;
  if (addr.kind() !== "ipv6") throw new TypeError(`"${s}" is not an IPv6 CIDR`);
  const bytes = addr.toByteArray();
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    bytes[i] &= (0xff << (8 - keep)) & 0xff;
  }
  return { bytes, prefix };
}

export function formatCidr6(c: Cidr6): string {
  return `${ipaddr.fromByteArray(c.bytes).toString()}/${c.prefix}`;
}

/** The address `offset` (< 2^32) after the prefix's first address. */
export function ip6Offset(c: Cidr6, offset: number): string {
  const b = [...c.bytes];
  let carry = offset;
  for (let i = 15; i >= 0 && carry > 0; i--) {
    const sum = b[i] + (carry % 256);
    b[i] = sum & 255;
    carry = Math.floor(carry / 256) + (sum >> 8);
  }
  return ipaddr.fromByteArray(b).toString();
}

export function cidr6Overlaps(a: Cidr6, b: Cidr6): boolean {
  const p = Math.min(a.prefix, b.prefix);
  for (let bit = 0; bit < p; bit++) {
    const i = bit >> 3;
    const m = 0x80 >> (bit & 7);
    if ((a.bytes[i] & m) !== (b.bytes[i] & m)) return false;
  }
  return true;
}

export function cidr6Contains(c: Cidr6, address: string): boolean {
  return cidr6Overlaps(c, { bytes: ipaddr.IPv6.parse(address).toByteArray(), prefix: 128 });
}

/** Canonical text of an address (lower-case, compressed IPv6). */
export function normalizeIp(s: string): string {
  return ipaddr.parse(s).toString();
}
