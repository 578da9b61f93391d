/**
 * Wire messages of the membership protocol. A packet is one JSON envelope
 * `{"f": senderId, "m": [message, ...]}`: the first message is the one the packet is for, the
 * rest are piggybacked broadcasts. Decoding never throws: anything malformed is reported as
 * null and counted by the caller.
 */

/** Member states on the wire and in the table. */
export const ALIVE = 0;
export const SUSPECT = 1;
export const DEAD = 2;
export const LEFT = 3;
export type MemberState = typeof ALIVE | typeof SUSPECT | typeof DEAD | typeof LEFT;

export type Msg =
  /** Direct probe of member `n` (checked so a misaddressed ping is not acked). */
  | { t: "p"; q: number; n: string }
  | { t: "a"; q: number }
  /** Indirect-probe helper heard nothing from the target in time. */
  | { t: "n"; q: number }
  /** Please probe member `n` at address `a` for me and relay the ack. */
  | { t: "r"; q: number; n: string; a: string }
  | { t: "A"; n: string; a: string; g: number; i: number }
  | { t: "S"; n: string; g: number; i: number; f: string }
  /** Dead; a dead message about oneself (`f` = `n`) is a graceful leave. */
  | { t: "D"; n: string; g: number; i: number; f: string }
  /** A chunk of a full membership exchange; `r` = 1 asks for ours in return. */
  | { t: "M"; m: MemberTuple[]; r: number }
  /** Opaque payload for the layer above (state sync, IPAM). */
  | { t: "u"; d: unknown };

/** id, address, generation, incarnation, state */
export type MemberTuple = [string, string, number, number, MemberState];

export interface Envelope {
  f: string;
  m: Msg[];
}

export const MAX_ID_LEN = 128;
export const MAX_ADDR_LEN = 64;
/** Bound on messages per packet, so a hostile packet cannot make us loop for long. */
const MAX_MSGS = 256;

const isStr = (v: unknown, max: number): v is string => typeof v === "string" && v.length > 0 && v.length <= max;
const isNat = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

function isTuple(v: unknown): v is MemberTuple {
  if (!Array.isArray(v) || v.length !== 5) return false;
  const [id, addr, g, i, s] = v;
  return (
    isStr(id, MAX_ID_LEN) &&
    isStr(addr, MAX_ADDR_LEN) &&
    isNat(g) &&
    isNat(i) &&
    (s === 0 || s === 1 || s === 2 || s === 3)
  );
}

export function isMsg(v: unknown): v is Msg {
  if (typeof v !== "object" || v === null) return false;
  const m = v as Record<string, unknown>;
  switch (m.t) {
    case "p":
      return isNat(m.q) && isStr(m.n, MAX_ID_LEN);
    case "a":
    case "n":
      return isNat(m.q);
    case "r":
      return isNat(m.q) && isStr(m.n, MAX_ID_LEN) && isStr(m.a, MAX_ADDR_LEN);
    case "A":
      return isStr(m.n, MAX_ID_LEN) && isStr(m.a, MAX_ADDR_LEN) && isNat(m.g) && isNat(m.i);
    case "S":
    case "D":
      return isStr(m.n, MAX_ID_LEN) && isNat(m.g) && isNat(m.i) && isStr(m.f, MAX_ID_LEN);
    case "M":
      return (
        Array.isArray(m.m) && m.m.length <= MAX_MSGS && m.m.every(isTuple) && (m.r === 0 || m.r === 1 || m.r === 2)
      );
    case "u":
      return "d" in m;
    default:
      return false;
  }
}

/** Parse and check a packet; null when anything about it is wrong. */
export function decodeEnvelope(text: string): Envelope | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null) return null;
  const e = v as Record<string, unknown>;
  if (!isStr(e.f, MAX_ID_LEN) || !Array.isArray(e.m) || e.m.length === 0 || e.m.length > MAX_MSGS) return null;
  if (!e.m.every(isMsg)) return null;
  return { f: e.f, m: e.m as Msg[] };
}

/** Build the envelope text around already-encoded message texts. */
export function encodeEnvelope(from: string, parts: string[]): string {
  return `{"f":${JSON.stringify(from)},"m":[${parts.join(",")}]}`;
}
