/**
 * Linux interface names (tap/vnet/veth ports, bridges, uplinks): what the kernel's
 * dev_valid_name() accepts, minus ':' (an address label, not a device). A name that passes here
 * can be written into an nft transaction or an `ip link` argument without quoting trouble.
 */
import { invalid } from "../store/db.ts";

/** IFNAMSIZ is 16 bytes including the terminating NUL. */
const MAX_BYTES = 15;

export function isIfName(name: string): boolean {
  if (typeof name !== "string" || name === "." || name === "..") return false;
  const bytes = Buffer.byteLength(name, "utf8");
  if (bytes < 1 || bytes > MAX_BYTES) return false;
  // No '/', ':', whitespace, control characters (C0, DEL, C1) or quotes that break nft's syntax.
  return !/[/:\s\x00-\x1f\x7f-\x9f"'\\]/u.test(name);
}

/** Throw the store's invalid-input error naming `field` when `value` is not an interface name. */
export function checkIfName(field: string, value: string): void {
  if (!isIfName(value)) {
    throw invalid(`${field} ${JSON.stringify(value)} is not a valid interface name: 1-15 bytes, no '/', ':', quotes, whitespace or control characters, not "." or ".."`, field);
  }
}
