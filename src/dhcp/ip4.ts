/**
 * IPv4 text <-> wire bytes, through ipaddr.js so that no address text is parsed by hand.
 */
import ipaddr from "ipaddr.js";
import { BoundedCache } from "../util/bounded-cache.ts";

/** Parsed addresses: replies repeat the same few (server ids, gateways, relays) constantly. */
const parsed = new BoundedCache<string, number[]>(8192);

/** Four octets of a dotted-quad address; throws on anything that is not one. */
export function ip4Bytes(text: string): number[] {
  const hit = parsed.get(text);
  if (hit) return hit;
  if (!ipaddr.IPv4.isValidFourPartDecimal(text)) throw new TypeError(`not an IPv4 address: ${text}`);
  const bytes = ipaddr.IPv4.parse(text).toByteArray();
  parsed.set(text, bytes);
  return bytes;
}

/** Dotted-quad text of the four bytes at `off`. */
export function ip4Text(buf: Uint8Array, off = 0): string {
  return new ipaddr.IPv4([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]).toString();
}

export function isIp4(text: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(text);
}

/** Dotted-quad netmask for a prefix length (0..32). */
export function maskOf(prefixLength: number): string {
  return ipaddr.IPv4.subnetMaskFromPrefixLength(prefixLength).toString();
}

/** Directed broadcast address of `address/prefixLength`. */
export function broadcastOf(address: string, prefixLength: number): string {
  return ipaddr.IPv4.broadcastAddressFromCIDR(`${address}/${prefixLength}`).toString();
}

/** The unspecified address, used for empty header fields. */
export const ANY = "0.0.0.0";
