/**
 * What the kernel says about a bridge's IPv6 link-local address. An RA must come from a
 * link-local source (RFC 4861 §6.1.2), and a tentative address (DAD still running) cannot be
 * used as a source, so advertising waits until the address is usable. A bridge has no
 * link-local at all until it has carrier (its first port is up).
 *
 * The data come from /proc/net/if_inet6 (per network namespace): one line per address,
 * "<32 hex addr> <ifindex hex> <plen hex> <scope hex> <flags hex> <ifname>".
 */
import { readdirSync, readFileSync } from "node:fs";
import ipaddr from "ipaddr.js";

const SCOPE_LINK = 0x20;
const IFA_F_DADFAILED = 0x08;
const IFA_F_TENTATIVE = 0x40;

export interface LinkLocal {
  address: string;
  ifindex: number;
}

/** The bridge's usable (DAD finished, not failed) link-local address, or null. */
export function usableLinkLocal(ifInet6: string, ifname: string): LinkLocal | null {
  for (const line of ifInet6.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 6 || f[5] !== ifname || !/^[0-9a-f]{32}$/.test(f[0])) continue;
    const scope = parseInt(f[3], 16);
    const flags = parseInt(f[4], 16);
    if (scope !== SCOPE_LINK || (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) !== 0) continue;
    const bytes = f[0].match(/../g)!.map((h) => parseInt(h, 16));
    return { address: ipaddr.fromByteArray(bytes).toString(), ifindex: parseInt(f[1], 16) };
  }
  return null;
}

/** Reads /proc/net/if_inet6; an empty string when IPv6 is disabled. */
export function readIfInet6(): string {
  try {
    return readFileSync("/proc/net/if_inet6", "utf8");
  } catch {
    return "";
  }
}

/** The interface's MAC from sysfs, or null (no such interface, or no sysfs for this namespace). */
export function readMac(ifname: string): string | null {
  if (!/^[\w.-]{1,15}$/.test(ifname)) return null;
  try {
    const mac = readFileSync(`/sys/class/net/${ifname}/address`, "utf8").trim();
    return /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac) ? mac : null;
  } catch {
    return null;
  }
}

/**
 * The bridge's ports whose link is up (sysfs brif/ and each port's operstate). A port that
 * comes up is a host that just appeared on the link, which deserves an RA without waiting for
 * its solicitation (radvd does the same on link events).
 */
export function readUpPorts(bridge: string): Set<string> {
  const up = new Set<string>();
  if (!/^[\w.-]{1,15}$/.test(bridge)) return up;
  let ports: string[] = [];
  try {
    ports = readdirSync(`/sys/class/net/${bridge}/brif`);
  } catch {
    return up;
  }
  for (const p of ports) {
    try {
      if (readFileSync(`/sys/class/net/${p}/operstate`, "utf8").trim() === "up") up.add(p);
    } catch {
      // The port went away between the two reads.
    }
  }
  return up;
}
