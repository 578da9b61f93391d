/**
 * DHCPv4 wire format (RFC 2131 §2, RFC 2132 options, RFC 3396 long options).
 *
 * `decode` never throws: every way a packet from the network can be wrong is a typed
 * `DecodeError` that the caller counts and drops. `encode` is only ever given messages the
 * server built itself, so it may assume well-formed input, but it still honours a size limit
 * (the client's option 57) by leaving out options that do not fit.
 */
import { ip4Bytes, ip4Text } from "../net/ip.ts";

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;

/** Fixed BOOTP header (236 bytes) plus the magic cookie. */
export const HEADER_LEN = 236;
export const MIN_LEN = HEADER_LEN + 4;
/** Larger than any DHCP message on an Ethernet link; bigger datagrams are dropped unread. */
export const MAX_LEN = 1500;
/** BOOTP minimum; some old clients drop shorter replies (dnsmasq pads to this too). */
export const PAD_TO = 300;
const COOKIE = [99, 130, 83, 99];

export const OPT_PAD = 0;
export const OPT_END = 255;
export const OPT_OVERLOAD = 52;

export interface DhcpMessage {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** Client hardware address, `hlen` bytes. */
  chaddr: Uint8Array;
  /** Options by code; repeated instances are already concatenated (RFC 3396). */
  options: Map<number, Uint8Array>;
}

export type DecodeError = "truncated" | "oversized" | "bad_cookie" | "bad_hlen" | "option_overrun" | "bad_overload";

export type Decoded = { ok: true; message: DhcpMessage } | { ok: false; error: DecodeError };

export function decode(buf: Uint8Array): Decoded {
  if (buf.length < MIN_LEN) return { ok: false, error: "truncated" };
  if (buf.length > MAX_LEN) return { ok: false, error: "oversized" };
  for (let i = 0; i < 4; i++) if (buf[HEADER_LEN + i] !== COOKIE[i]) return { ok: false, error: "bad_cookie" };
  const hlen = buf[2];
  if (hlen > 16) return { ok: false, error: "bad_hlen" };
  const options = new Map<number, Uint8Array>();
  const main = parseOptions(buf, MIN_LEN, buf.length, options);
  if (typeof main === "string") return { ok: false, error: main };
  const overload = options.get(OPT_OVERLOAD);
  if (overload) {
    // Option 52 moves options into the `file` (1), `sname` (2) or both (3) fields, in that order.
    if (overload.length !== 1 || overload[0] < 1 || overload[0] > 3) return { ok: false, error: "bad_overload" };
    options.delete(OPT_OVERLOAD);
    if (overload[0] & 1) {
      const r = parseOptions(buf, 108, 236, options);
      if (typeof r === "string") return { ok: false, error: r };
    }
    if (overload[0] & 2) {
      const r = parseOptions(buf, 44, 108, options);
      if (typeof r === "string") return { ok: false, error: r };
    }
    // An overload option inside an overloaded field is not allowed (RFC 2131 §4.1).
    if (options.has(OPT_OVERLOAD)) return { ok: false, error: "bad_overload" };
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return {
    ok: true,
    message: {
      op: buf[0],
      htype: buf[1],
      hlen,
      hops: buf[3],
      xid: view.getUint32(4),
      secs: view.getUint16(8),
      flags: view.getUint16(10),
      ciaddr: ip4Text(buf, 12),
      yiaddr: ip4Text(buf, 16),
      siaddr: ip4Text(buf, 20),
      giaddr: ip4Text(buf, 24),
      chaddr: buf.slice(28, 28 + hlen),
      options,
    },
  };
}

/** Reads code/length/value triples from [start, end); returns an error name on overrun. */
function parseOptions(buf: Uint8Array, start: number, end: number, into: Map<number, Uint8Array>): DecodeError | null {
  let i = start;
  while (i < end) {
    const code = buf[i];
    if (code === OPT_END) return null;
    if (code === OPT_PAD) {
      i += 1;
      continue;
    }
    if (i + 1 >= end) return "option_overrun";
    const len = buf[i + 1];
    if (i + 2 + len > end) return "option_overrun";
    const value = buf.subarray(i + 2, i + 2 + len);
    const prev = into.get(code);
    into.set(code, prev ? concat(prev, value) : value.slice());
    i += 2 + len;
  }
  // A missing END is tolerated: the field simply ran out.
  return null;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

export interface OutMessage extends Omit<DhcpMessage, "options"> {
  /** Options in the order they should appear; values longer than 255 bytes are split. */
  options: [number, Uint8Array][];
}

export interface Encoded {
  bytes: Uint8Array;
  /** Codes that did not fit within `maxSize`. */
  dropped: number[];
}

/**
 * Encodes a message no larger than `maxSize` bytes (at least MIN_LEN + a few); options that
 * would overflow are skipped, later smaller ones may still fit. Padded to PAD_TO bytes.
 */
export function encode(msg: OutMessage, maxSize = 576 - 28): Encoded {
  const limit = Math.max(PAD_TO, Math.min(maxSize, MAX_LEN));
  const buf = new Uint8Array(limit);
  const view = new DataView(buf.buffer);
  buf[0] = msg.op;
  buf[1] = msg.htype;
  buf[2] = msg.hlen;
  buf[3] = msg.hops;
  view.setUint32(4, msg.xid >>> 0);
  view.setUint16(8, msg.secs);
  view.setUint16(10, msg.flags);
  buf.set(ip4Bytes(msg.ciaddr), 12);
  buf.set(ip4Bytes(msg.yiaddr), 16);
  buf.set(ip4Bytes(msg.siaddr), 20);
  buf.set(ip4Bytes(msg.giaddr), 24);
  buf.set(msg.chaddr.length > 16 ? msg.chaddr.subarray(0, 16) : msg.chaddr, 28);
  buf.set(COOKIE, HEADER_LEN);
  let at = MIN_LEN;
  const dropped: number[] = [];
  for (const [code, value] of msg.options) {
    const chunks = Math.max(1, Math.ceil(value.length / 255));
    if (at + value.length + 2 * chunks + 1 > limit) {
      dropped.push(code);
      continue;
    }
    at = chunks === 1 ? put(buf, at, code, value) : putLong(buf, at, code, value);
  }
  buf[at++] = OPT_END;
  return { bytes: buf.slice(0, Math.max(at, PAD_TO)), dropped };
}

function put(buf: Uint8Array, at: number, code: number, value: Uint8Array): number {
  buf[at] = code;
  buf[at + 1] = value.length;
  buf.set(value, at + 2);
  return at + 2 + value.length;
}

/** RFC 3396: a value longer than 255 bytes goes out as consecutive instances of the option. */
function putLong(buf: Uint8Array, at: number, code: number, value: Uint8Array): number {
  for (let off = 0; off < value.length; off += 255)
    at = put(buf, at, code, value.subarray(off, Math.min(value.length, off + 255)));
  return at;
}
