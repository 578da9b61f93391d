/**
 * MAC addresses: validation, formatting, parsing, and nova's fa:16:3e prefix with three random
 * octets. The parsers keep the contracts their callers rely on: `macBytes` and `parseMac` throw
 * (with the messages their callers report), `tryMacBytes` returns null and also accepts '-'.
 */

const MAC_RE = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

export function isMac(s: string): boolean {
  return MAC_RE.test(s.toLowerCase());
}

export function normalizeMac(s: string): string {
  return s.toLowerCase();
}

/** A random nova-style MAC; `randomBytes` is injected so tests are deterministic. */
export function randomMac(randomBytes: (n: number) => Uint8Array): string {
  const r = randomBytes(3);
  return ["fa", "16", "3e", ...[...r].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

export function macBytes(mac: string): number[] {
  if (!isMac(mac)) throw new TypeError(`"${mac}" is not a MAC address (expected xx:xx:xx:xx:xx:xx)`);
  return mac.split(":").map((h) => parseInt(h, 16));
}

/** "02:00:00:00:00:10" from bytes (a DHCP chaddr). */
export function macText(chaddr: Uint8Array): string {
  let s = "";
  for (let i = 0; i < chaddr.length; i++) s += (i ? ":" : "") + chaddr[i].toString(16).padStart(2, "0");
  return s;
}

/** Six bytes of a MAC written as hex pairs separated by ':' or '-'; null if it is not one. */
export function tryMacBytes(mac: string): Uint8Array | null {
  const parts = mac.split(/[:-]/);
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) return null;
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

/** "02:00:00:00:00:10" → 6 bytes. */
export function parseMac(mac: string): Uint8Array {
  const m = /^([0-9a-f]{2})(?::([0-9a-f]{2})){5}$/i.test(mac) ? mac.split(":") : null;
  if (!m) throw new TypeError(`Cannot parse MAC address '${mac}'`);
  return Uint8Array.from(m.map((h) => parseInt(h, 16)));
}
