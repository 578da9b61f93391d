/**
 * IP TTL / IPv6 hop limit on our own listening sockets, through bun:ffi (Bun cannot set a
 * per-response TTL). Linux copies these options from a listener to every connection it
 * accepts, SYN-ACK included, so with 1 every metadata response — IMDSv2 token responses in
 * particular — dies at the first router and cannot be relayed off-link. Guests always reach
 * the service on-link (DNAT on their own bridge), so they are unaffected.
 *
 * Bun does not expose a listener's fd either: we find it as the socket in /proc/self/fd whose
 * inode /proc/net/tcp{,6} lists as LISTEN on our port.
 */
import { ptr } from "bun:ffi";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { lib } from "./libc.ts";

const IPPROTO_IP = 0;
const IP_TTL = 2;
const IPPROTO_IPV6 = 41;
const IPV6_UNICAST_HOPS = 16;
const TCP_LISTEN = "0A";

/** Inodes of sockets listening on `port`, with whether they are IPv6 sockets. */
export function listeningInodes(port: number, procNet = "/proc/net"): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const [file, v6] of [
    ["tcp", false],
    ["tcp6", true],
  ] as const) {
    let text = "";
    try {
      text = readFileSync(`${procNet}/${file}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== TCP_LISTEN) continue;
      if (parseInt(cols[1].split(":")[1] ?? "", 16) === port) out.set(cols[9], v6);
    }
  }
  return out;
}

/** Sets the TTL/hop limit on this process's listeners on `port`; returns how many were set. */
export function limitHops(port: number, hops: number): number {
  if (!Number.isInteger(hops) || hops < 1 || hops > 255)
    throw new RangeError(`Cannot limit hops as 'hops' must be 1-255: current value is ${hops}`);
  const inodes = listeningInodes(port);
  const value = new Int32Array([hops]);
  let set = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode === undefined || !inodes.has(inode)) continue;
    const v6 = inodes.get(inode)!;
    if (lib.setsockopt(Number(fd), IPPROTO_IP, IP_TTL, ptr(value), 4) !== 0 && !v6) continue;
    if (v6) lib.setsockopt(Number(fd), IPPROTO_IPV6, IPV6_UNICAST_HOPS, ptr(value), 4);
    set += 1;
  }
  return set;
}
