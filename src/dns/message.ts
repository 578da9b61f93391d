/**
 * Wire in and out, through dns-packet: decoding a datagram without ever throwing, and encoding a
 * reply that fits the client's buffer (512 bytes, or its EDNS0 size up to 1232), setting TC and
 * dropping the records when it does not so the client retries over TCP (RFC 1035, RFC 6891).
 */
import * as dnsPacket from "dns-packet";
import type { Answer, DecodedPacket } from "dns-packet";
import { RCODE, type Reply } from "./answer.ts";

/** Our EDNS0 buffer: the DNS flag day 2020 size, safe from IP fragmentation. */
export const EDNS_SIZE = 1232;
export const TCP_MAX = 65535;

export type Decoded = { ok: true; packet: DecodedPacket } | { ok: false; error: string };

export function decodeMessage(bytes: Uint8Array): Decoded {
  if (bytes.length < 12) return { ok: false, error: "short" };
  if (bytes.length > TCP_MAX) return { ok: false, error: "long" };
  try {
    // A copy: decoded records (TXT, unknown types) keep views of it, and they may be cached.
    return { ok: true, packet: dnsPacket.decode(Buffer.from(bytes)) };
  } catch {
    return { ok: false, error: "malformed" };
  }
}

/** The client's EDNS0 OPT record, if any. */
export function optOf(q: DecodedPacket): { udpPayloadSize: number } | null {
  const opt = q.additionals?.find((a) => a.type === "OPT") as { udpPayloadSize?: number } | undefined;
  return opt ? { udpPayloadSize: opt.udpPayloadSize ?? 512 } : null;
}

/** Bytes a UDP reply may use for this query. */
export function udpLimit(q: DecodedPacket): number {
  const opt = optOf(q);
  return opt ? Math.max(512, Math.min(opt.udpPayloadSize, EDNS_SIZE)) : 512;
}

const FLAG_AA = 1 << 10,
  FLAG_TC = 1 << 9,
  FLAG_RD = 1 << 8,
  FLAG_RA = 1 << 7,
  FLAG_CD = 1 << 4;

/** Encodes `r` as the answer to `q`; within `limit` bytes, else truncated with TC set. */
export function encodeReply(q: DecodedPacket, r: Reply, limit: number): Uint8Array {
  const edns = optOf(q) !== null;
  const flags = (q.flag_rd ? FLAG_RD : 0) | (q.flag_cd ? FLAG_CD : 0) | FLAG_RA | (r.aa ? FLAG_AA : 0) | RCODE[r.rcode];
  const additionals: Answer[] = edns ? [{ type: "OPT", name: ".", udpPayloadSize: EDNS_SIZE, flags: 0 } as Answer] : [];
  const base = { type: "response" as const, id: q.id, questions: q.questions ?? [], additionals };
  const full = dnsPacket.encode({ ...base, flags, answers: r.answers, authorities: r.authorities });
  if (full.length <= limit) return full;
  return dnsPacket.encode({ ...base, flags: flags | FLAG_TC, answers: [], authorities: [] });
}

/** A bare error reply for a query whose question could not be read (echoes the ID only). */
export function errorReply(bytes: Uint8Array, rcode: number): Uint8Array | null {
  if (bytes.length < 12 || bytes[2] & 0x80) return null;
  const out = new Uint8Array(12);
  out[0] = bytes[0];
  out[1] = bytes[1];
  out[2] = 0x80 | (bytes[2] & 0x79);
  out[3] = 0x80 | (rcode & 0xf);
  return out;
}
