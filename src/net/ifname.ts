/**
 * Linux interface names (bridges, uplinks, a VM's tap or veth): what the kernel accepts
 * (`dev_valid_name`: 1 to IFNAMSIZ-1 = 15 bytes, no '/', ':' or whitespace, not "." or "..").
 * netlet also refuses quotes, backslashes and control characters, because names end up inside
 * nft and iptables rule text.
 */
import { invalid } from "../util/errors.ts";

const ALLOWED = /^[A-Za-z0-9_.@+=-]{1,15}$/;

export function isIfName(name: string): boolean {
  return ALLOWED.test(name) && name !== "." && name !== "..";
}

/** Throw an invalid-input error naming `field` unless `value` is an interface name. */
export function checkIfName(field: string, value: string): void {
  if (!isIfName(value)) {
    throw invalid(
      `${field} ${JSON.stringify(value)} is not a valid interface name: 1-15 bytes of A-Z a-z 0-9 _ . @ + = -, not "." or ".."`,
      field,
    );
  }
}
