/** MAC addresses: nova's fa:16:3e prefix with three random octets. */

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
