/**
 * DHCPv4 option values (RFC 2132, RFC 3397 domain search, RFC 3442 classless routes, RFC 3046
 * relay agent information). Encoders take trusted configuration; readers take bytes from the
 * network and return null for anything malformed, never throw.
 */
import ipaddr from "ipaddr.js";
import { ip4Bytes, ip4Text } from "../net/ip.ts";

export const Opt = {
  SubnetMask: 1,
  Router: 3,
  DnsServers: 6,
  Hostname: 12,
  DomainName: 15,
  InterfaceMtu: 26,
  Broadcast: 28,
  RequestedAddress: 50,
  LeaseTime: 51,
  MessageType: 53,
  ServerId: 54,
  ParameterList: 55,
  Message: 56,
  MaxMessageSize: 57,
  RenewalTime: 58,
  RebindingTime: 59,
  ClientId: 61,
  RelayAgentInfo: 82,
  DomainSearch: 119,
  ClasslessRoutes: 121,
} as const;

export const MessageType = {
  Discover: 1,
  Offer: 2,
  Request: 3,
  Decline: 4,
  Ack: 5,
  Nak: 6,
  Release: 7,
  Inform: 8,
} as const;

export const MESSAGE_NAMES: Record<number, string> = {
  1: "discover",
  2: "offer",
  3: "request",
  4: "decline",
  5: "ack",
  6: "nak",
  7: "release",
  8: "inform",
};

const text = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: false });

export const u8 = (v: number) => Uint8Array.of(v & 0xff);
export const u16 = (v: number) => Uint8Array.of((v >>> 8) & 0xff, v & 0xff);
export const u32 = (v: number) => Uint8Array.of((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
export const str = (s: string) => text.encode(s);
export const ips = (list: readonly string[]) => Uint8Array.from(list.flatMap(ip4Bytes));

export function readU8(v: Uint8Array | undefined): number | null {
  return v && v.length === 1 ? v[0] : null;
}

export function readU16(v: Uint8Array | undefined): number | null {
  return v && v.length === 2 ? (v[0] << 8) | v[1] : null;
}

export function readU32(v: Uint8Array | undefined): number | null {
  return v && v.length === 4 ? ((v[0] << 24) | (v[1] << 16) | (v[2] << 8) | v[3]) >>> 0 : null;
}

export function readIp(v: Uint8Array | undefined): string | null {
  return v && v.length === 4 ? ip4Text(v) : null;
}

export function readIps(v: Uint8Array | undefined): string[] | null {
  if (!v || v.length === 0 || v.length % 4 !== 0) return null;
  const out: string[] = [];
  for (let i = 0; i < v.length; i += 4) out.push(ip4Text(v, i));
  return out;
}

export function readString(v: Uint8Array | undefined): string | null {
  return v ? utf8.decode(v) : null;
}

export interface Route {
  /** Destination in CIDR notation, e.g. "169.254.169.254/32" or "0.0.0.0/0". */
  destination: string;
  gateway: string;
}

/** RFC 3442: width octet, the significant octets of the destination, then the router. */
export function classlessRoutes(routes: readonly Route[]): Uint8Array {
  const out: number[] = [];
  for (const r of routes) {
    const [net, width] = ipaddr.IPv4.parseCIDR(r.destination);
    out.push(width, ...net.toByteArray().slice(0, Math.ceil(width / 8)), ...ip4Bytes(r.gateway));
  }
  return Uint8Array.from(out);
}

export function readClasslessRoutes(v: Uint8Array | undefined): Route[] | null {
  if (!v || v.length === 0) return null;
  const routes: Route[] = [];
  let i = 0;
  while (i < v.length) {
    const width = v[i];
    if (width > 32) return null;
    const sig = Math.ceil(width / 8);
    if (i + 1 + sig + 4 > v.length) return null;
    const dest = [0, 0, 0, 0];
    for (let k = 0; k < sig; k++) dest[k] = v[i + 1 + k];
    routes.push({ destination: `${ip4Text(Uint8Array.from(dest))}/${width}`, gateway: ip4Text(v, i + 1 + sig) });
    i += 1 + sig + 4;
  }
  return routes;
}

/** RFC 3397: the names in DNS wire format (uncompressed: the lists here are short). */
export function domainSearch(names: readonly string[]): Uint8Array {
  const out: number[] = [];
  for (const name of names) {
    for (const label of name.replace(/\.$/, "").split(".")) {
      if (label.length === 0) continue;
      const bytes = text.encode(label);
      if (bytes.length > 63) throw new TypeError(`DNS label longer than 63 bytes in ${name}`);
      out.push(bytes.length, ...bytes);
    }
    out.push(0);
  }
  return Uint8Array.from(out);
}

/** Reads an RFC 3397 list, following compression pointers backwards only (no loops). */
export function readDomainSearch(v: Uint8Array | undefined): string[] | null {
  if (!v || v.length === 0) return null;
  const names: string[] = [];
  let i = 0;
  while (i < v.length) {
    const name = readName(v, i);
    if (!name) return null;
    names.push(name.labels.join("."));
    i = name.next;
  }
  return names;
}

function readName(v: Uint8Array, start: number): { labels: string[]; next: number } | null {
  const labels: string[] = [];
  let i = start;
  let next = -1;
  let hops = 0;
  for (;;) {
    if (i >= v.length) return null;
    const len = v[i];
    if (len === 0) return { labels, next: next < 0 ? i + 1 : next };
    if ((len & 0xc0) === 0xc0) {
      if (i + 1 >= v.length) return null;
      const target = ((len & 0x3f) << 8) | v[i + 1];
      if (target >= i || ++hops > 64) return null;
      if (next < 0) next = i + 2;
      i = target;
      continue;
    }
    if (len > 63 || i + 1 + len > v.length) return null;
    labels.push(utf8.decode(v.subarray(i + 1, i + 1 + len)));
    i += 1 + len;
  }
}
