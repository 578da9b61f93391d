/**
 * Address arithmetic for IPAM: a fixed IPv4 range split into equal blocks (default /28), and
 * the addresses of one block. Parsing goes through ipaddr.js; integers are only used inside.
 */
import ipaddr from "ipaddr.js";

export const DEFAULT_BLOCK_PREFIX = 28;

function v4ToInt(a: ipaddr.IPv4): number {
  const b = a.toByteArray();
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}

function intToV4(n: number): string {
  return ipaddr.fromByteArray([(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]).toString();
}

function parseV4Cidr(cidr: string): { base: number; prefix: number } {
  const [addr, prefix] = ipaddr.parseCIDR(cidr);
  if (addr.kind() !== "ipv4") throw new RangeError(`Cannot split ${cidr}: IPAM blocks are IPv4 only (IPv6 uses SLAAC)`);
  const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  return { base: (v4ToInt(addr as ipaddr.IPv4) & mask) >>> 0, prefix };
}

/** The blocks of `cidr`, in address order ("10.0.0.0/28", "10.0.0.16/28", ...). */
export function splitBlocks(cidr: string, blockPrefix = DEFAULT_BLOCK_PREFIX): string[] {
  const { base, prefix } = parseV4Cidr(cidr);
  if (blockPrefix < prefix) return [`${intToV4(base)}/${prefix}`];
  const count = 2 ** (blockPrefix - prefix);
  if (count > 65_536) throw new RangeError(`Cannot split ${cidr} into /${blockPrefix}: ${count} blocks is more than 65536`);
  const size = 2 ** (32 - blockPrefix);
  return Array.from({ length: count }, (_, i) => `${intToV4(base + i * size)}/${blockPrefix}`);
}

/** Every address of a block, in order. */
export function blockAddresses(block: string): string[] {
  const { base, prefix } = parseV4Cidr(block);
  return Array.from({ length: 2 ** (32 - prefix) }, (_, i) => intToV4(base + i));
}

/** Network, broadcast and the given service addresses are never handed out. */
export function reservedAddresses(cidr: string, extra: (string | null | undefined)[]): Set<string> {
  const { base, prefix } = parseV4Cidr(cidr);
  const out = new Set<string>([intToV4(base), intToV4(base + 2 ** (32 - prefix) - 1)]);
  for (const e of extra) if (e && ipaddr.isValid(e)) out.add(ipaddr.parse(e).toString());
  return out;
}
