/** This host's own subnets, read from its interfaces and routes (see net/host-subnets.ts for the checks). */
import { existsSync, readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import type { HostSubnet } from "../net/host-subnets.ts";
import { cidr4Contains, formatCidr4, formatCidr6, ip4ToNum, isIpv4, parseCidr4, parseCidr6 } from "../net/ip.ts";

/** IPv4 gateways per interface from /proc/net/route (little-endian hex; 0 means on-link). */
export function parseProcRoute(text: string): { iface: string; gateway: string }[] {
  const out: { iface: string; gateway: string }[] = [];
  for (const line of text.split("\n").slice(1)) {
    const [iface, , gw] = line.trim().split(/\s+/);
    if (!iface || !gw || !/^[0-9A-Fa-f]{8}$/.test(gw) || /^0+$/.test(gw)) continue;
    const n = Number.parseInt(gw, 16);
    out.push({ iface, gateway: [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join(".") });
  }
  return out;
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/**
 * The subnets on this namespace's interfaces, leaving out loopback, link-local and the
 * interfaces in `skip` (the bridges netlet itself addresses for its networks).
 */
export function readHostSubnets(skip: ReadonlySet<string>): HostSubnet[] {
  const out: HostSubnet[] = [];
  const routes = parseProcRoute(readText("/proc/net/route"));
  for (const [iface, addrs] of Object.entries(networkInterfaces())) {
    if (skip.has(iface)) continue;
    for (const a of addrs ?? []) {
      if (a.internal || !a.cidr || a.address.startsWith("fe80:") || a.address.startsWith("169.254.")) continue;
      try {
        const net = a.family === "IPv4" ? formatCidr4(parseCidr4(a.cidr)) : formatCidr6(parseCidr6(a.cidr));
        const gateways =
          a.family === "IPv4"
            ? routes.filter((r) => r.iface === iface && cidr4Contains(parseCidr4(net), ip4ToNum(r.gateway)))
            : [];
        out.push({
          iface,
          address: a.address,
          cidr: net,
          bridge: existsSync(`/sys/class/net/${iface}/bridge`),
          gateways: [...new Set(gateways.map((r) => r.gateway))],
        });
      } catch {
        // An address the parser refuses is not one a range can collide with.
      }
    }
  }
  return out;
}
