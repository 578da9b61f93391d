/**
 * Address arithmetic for IPAM: a fixed IPv4 range split into equal blocks (default /28), and
 * the addresses of one block. Parsing goes through ipaddr.js; integers are only used inside.
 */
import { numToIp4 as intToV4, parseCidr4 } from "../../net/ip.ts";

export const DEFAULT_BLOCK_PREFIX = 28;

function parseV4Cidr(cidr: string): { base: number; prefix: number } {
  try {
    return parseCidr4(cidr);
  } catch {
    throw new RangeError(`Cannot split ${cidr}: IPAM blocks are IPv4 only (IPv6 uses SLAAC)`);
  }
}

/** The blocks of `cidr`, in address order ("10.0.0.0/28", "10.0.0.16/28", ...). */
export function splitBlocks(cidr: string, blockPrefix = DEFAULT_BLOCK_PREFIX): string[] {
  const { base, prefix } = parseV4Cidr(cidr);
  if (blockPrefix < prefix) return [`${intToV4(base)}/${prefix}`];
  const count = 2 ** (blockPrefix - prefix);
  if (count > 65_536)
    throw new RangeError(`Cannot split ${cidr} into /${blockPrefix}: ${count} blocks is more than 65536`);
  const size = 2 ** (32 - blockPrefix);
  return Array.from({ length: count }, (_, i) => `${intToV4(base + i * size)}/${blockPrefix}`);
}

/** Every address of a block, in order. */
export function blockAddresses(block: string): string[] {
  const { base, prefix } = parseV4Cidr(block);
  return Array.from({ length: 2 ** (32 - prefix) }, (_, i) => intToV4(base + i));
}
