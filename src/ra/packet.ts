/**
 * Router Advertisement builder and Router Solicitation validator (RFC 4861 §4.1, §4.2, §6.1.1;
 * RFC 4191 preferences and Route Information; RFC 8106 RDNSS/DNSSL). Pure byte work: no
 * sockets, no clock. The ICMPv6 checksum is left at zero because a Linux raw ICMPv6 socket
 * always fills it in (the pseudo-header needs the source address the kernel picks).
 */
import ipaddr from "ipaddr.js";
import { macText, parseMac } from "../net/mac.ts";

export type RouterPreference = "high" | "medium" | "low";

/** Prefix Information option (type 3). */
export interface PrefixInfo {
  /** e.g. "fd00:1::/64"; host bits are cleared on encoding. */
  prefix: string;
  onLink: boolean;
  autonomous: boolean;
  /** Seconds; 0xffffffff means infinity. */
  validLifetime: number;
  preferredLifetime: number;
}

/** Route Information option (type 24, RFC 4191). */
export interface RouteInfo {
  prefix: string;
  preference: RouterPreference;
  lifetime: number;
}

/** Everything one RA carries. Times are in seconds except the two ND timers (milliseconds). */
export interface RouterAdvert {
  curHopLimit: number;
  managed: boolean;
  other: boolean;
  preference: RouterPreference;
  routerLifetime: number;
  reachableTimeMs: number;
  retransTimerMs: number;
  sourceMac: string | null;
  mtu: number | null;
  prefixes: PrefixInfo[];
  rdnss: { servers: string[]; lifetime: number } | null;
  dnssl: { domains: string[]; lifetime: number } | null;
  routes: RouteInfo[];
}

export const ICMP6_RS = 133;
export const ICMP6_RA = 134;
/** Largest RS accepted: the IPv6 minimum MTU minus the IPv6 header; a real RS is 8–16 bytes. */
export const RS_MAX_BYTES = 1232;

// RFC 4191 §2.1: 01 high, 00 medium, 11 low (10 is reserved and must not be sent).
const PRF_BITS: Record<RouterPreference, number> = { high: 0b01, medium: 0b00, low: 0b11 };

/** Encodes an RA as ICMPv6 bytes (checksum zero, filled by the kernel). Throws on bad config. */
export function buildRa(ra: RouterAdvert): Uint8Array {
  if (ra.routerLifetime < 0 || ra.routerLifetime > 0xffff)
    throw new RangeError(`Cannot build RA as router lifetime must fit 16 bits: current value is ${ra.routerLifetime}`);
  const header = new Uint8Array(16);
  const v = new DataView(header.buffer);
  header[0] = ICMP6_RA;
  header[4] = ra.curHopLimit;
  header[5] = (ra.managed ? 0x80 : 0) | (ra.other ? 0x40 : 0) | (PRF_BITS[ra.preference] << 3);
  v.setUint16(6, ra.routerLifetime);
  v.setUint32(8, ra.reachableTimeMs);
  v.setUint32(12, ra.retransTimerMs);
  const parts: Uint8Array[] = [header];
  if (ra.sourceMac) parts.push(sllaOption(ra.sourceMac));
  if (ra.mtu !== null) parts.push(mtuOption(ra.mtu));
  for (const p of ra.prefixes) parts.push(prefixOption(p));
  for (const r of ra.routes) parts.push(routeOption(r));
  if (ra.rdnss && ra.rdnss.servers.length > 0) parts.push(rdnssOption(ra.rdnss.servers, ra.rdnss.lifetime));
  if (ra.dnssl && ra.dnssl.domains.length > 0) parts.push(dnsslOption(ra.dnssl.domains, ra.dnssl.lifetime));
  return concat(parts);
}

function sllaOption(mac: string): Uint8Array {
  const o = new Uint8Array(8);
  o[0] = 1;
  o[1] = 1;
  o.set(parseMac(mac), 2);
  return o;
}

function mtuOption(mtu: number): Uint8Array {
  // 1280 is the IPv6 minimum link MTU (RFC 8200 §5); Linux ignores smaller values anyway.
  if (!Number.isInteger(mtu) || mtu < 1280)
    throw new RangeError(`Cannot advertise MTU as it must be at least 1280: current value is ${mtu}`);
  const o = new Uint8Array(8);
  o[0] = 5;
  o[1] = 1;
  new DataView(o.buffer).setUint32(4, mtu);
  return o;
}

function prefixBytes(cidr: string): { bytes: number[]; len: number } {
  const [addr, len] = ipaddr.IPv6.parseCIDR(cidr);
  const bytes = addr.toByteArray();
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    bytes[i] &= (0xff << (8 - keep)) & 0xff;
  }
  return { bytes, len };
}

function prefixOption(p: PrefixInfo): Uint8Array {
  if (p.preferredLifetime > p.validLifetime)
    throw new RangeError(
      `Cannot advertise prefix '${p.prefix}' as preferred lifetime ${p.preferredLifetime} exceeds valid lifetime ${p.validLifetime}`,
    );
  const { bytes, len } = prefixBytes(p.prefix);
  const o = new Uint8Array(32);
  const v = new DataView(o.buffer);
  o[0] = 3;
  o[1] = 4;
  o[2] = len;
  o[3] = (p.onLink ? 0x80 : 0) | (p.autonomous ? 0x40 : 0);
  v.setUint32(4, p.validLifetime);
  v.setUint32(8, p.preferredLifetime);
  o.set(bytes, 16);
  return o;
}

function routeOption(r: RouteInfo): Uint8Array {
  const { bytes, len } = prefixBytes(r.prefix);
  // RFC 4191 §2.3: the option carries only as many 8-byte units of prefix as the length needs.
  const units = len === 0 ? 1 : len <= 64 ? 2 : 3;
  const o = new Uint8Array(units * 8);
  o[0] = 24;
  o[1] = units;
  o[2] = len;
  o[3] = PRF_BITS[r.preference] << 3;
  new DataView(o.buffer).setUint32(4, r.lifetime);
  o.set(bytes.slice(0, (units - 1) * 8), 8);
  return o;
}

function rdnssOption(servers: string[], lifetime: number): Uint8Array {
  const o = new Uint8Array(8 + 16 * servers.length);
  o[0] = 25;
  o[1] = 1 + 2 * servers.length;
  new DataView(o.buffer).setUint32(4, lifetime);
  servers.forEach((s, i) => {
    o.set(ipaddr.IPv6.parse(s).toByteArray(), 8 + 16 * i);
  });
  return o;
}

/** DNS wire format names (RFC 1035 §3.1), as RFC 8106 §5.2 requires, padded to 8 bytes. */
export function encodeDomains(domains: string[]): Uint8Array {
  const out: number[] = [];
  for (const d of domains) {
    const start = out.length;
    const labels = d.replace(/\.$/, "").split(".");
    for (const l of labels) {
      if (!/^[A-Za-z0-9_-]{1,63}$/.test(l))
        throw new RangeError(`Cannot encode search domain '${d}' as label '${l}' is not a valid DNS label`);
      out.push(l.length, ...Buffer.from(l, "ascii"));
    }
    out.push(0);
    if (out.length - start > 255)
      throw new RangeError(`Cannot encode search domain '${d}' as it is longer than 255 bytes`);
  }
  while (out.length % 8 !== 0) out.push(0);
  return Uint8Array.from(out);
}

function dnsslOption(domains: string[], lifetime: number): Uint8Array {
  const names = encodeDomains(domains);
  const o = new Uint8Array(8 + names.length);
  o[0] = 31;
  o[1] = o.length / 8;
  new DataView(o.buffer).setUint32(4, lifetime);
  o.set(names, 8);
  return o;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export type RsDropReason =
  | "short"
  | "oversized"
  | "not-rs"
  | "bad-code"
  | "hop-limit"
  | "zero-length-option"
  | "option-overrun"
  | "bad-sllao"
  | "sllao-from-unspecified";

export interface RouterSolicit {
  /** IPv6 source of the RS ("::" for a host without an address yet). */
  source: string;
  sourceMac: string | null;
}

export type RsResult = { ok: true; rs: RouterSolicit } | { ok: false; reason: RsDropReason };

/**
 * Validates an RS as RFC 4861 §6.1.1 asks of a router: hop limit 255, code 0, at least 8 bytes,
 * every option length non-zero and inside the packet, no SLLAO from the unspecified address.
 * `hopLimit` is the IPv6 hop limit from the IPV6_HOPLIMIT control message (null when absent).
 */
export function parseRs(bytes: Uint8Array, meta: { hopLimit: number | null; source: string }): RsResult {
  if (bytes.length < 8) return { ok: false, reason: "short" };
  if (bytes.length > RS_MAX_BYTES) return { ok: false, reason: "oversized" };
  if (bytes[0] !== ICMP6_RS) return { ok: false, reason: "not-rs" };
  if (bytes[1] !== 0) return { ok: false, reason: "bad-code" };
  if (meta.hopLimit !== 255) return { ok: false, reason: "hop-limit" };
  let sourceMac: string | null = null;
  for (let at = 8; at < bytes.length; ) {
    if (at + 2 > bytes.length) return { ok: false, reason: "option-overrun" };
    const len = bytes[at + 1] * 8;
    if (len === 0) return { ok: false, reason: "zero-length-option" };
    if (at + len > bytes.length) return { ok: false, reason: "option-overrun" };
    if (bytes[at] === 1) {
      if (len !== 8) return { ok: false, reason: "bad-sllao" };
      sourceMac = macText(bytes.subarray(at + 2, at + 8));
    }
    at += len;
  }
  const unspecified = ipaddr.IPv6.parse(meta.source).range() === "unspecified";
  if (unspecified && sourceMac !== null) return { ok: false, reason: "sllao-from-unspecified" };
  return { ok: true, rs: { source: meta.source, sourceMac } };
}
