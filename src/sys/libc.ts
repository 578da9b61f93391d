/**
 * The one place netlet loads libc through bun:ffi, for the socket calls Bun has no API for: a
 * UDP socket bound to one device before `bind()` and ARP entries (DHCP), raw ICMPv6 and netlink
 * sockets with sendmsg/recvmsg (RA), socket options on listeners (metadata), flock on the state
 * directory's lock file (one agent per host). Struct layouts are
 * x86-64/aarch64 Linux (LP64, little-endian).
 */
import { dlopen, FFIType, ptr, read } from "bun:ffi";

/** The raw symbols, for callers that handle return codes themselves (non-blocking I/O). */
export const lib = dlopen("libc.so.6", {
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  setsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  ioctl: { args: [FFIType.i32, FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
  sendmsg: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i64_fast },
  recvmsg: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i64_fast },
  if_nametoindex: { args: [FFIType.ptr], returns: FFIType.u32 },
  flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  __errno_location: { args: [], returns: FFIType.ptr },
}).symbols;

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  6: "ENXIO",
  9: "EBADF",
  11: "EAGAIN",
  13: "EACCES",
  19: "ENODEV",
  22: "EINVAL",
  90: "EMSGSIZE",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  105: "ENOBUFS",
  113: "EHOSTUNREACH",
};

/** "ENODEV (19)" style name for an errno value. */
export function errnoName(e: number): string {
  return `${ERRNO_NAMES[e] ?? "errno"} (${e})`;
}

/** A failed libc call, with the errno name in `code` (e.g. "ENODEV"). */
export class SysError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    const name = ERRNO_NAMES[errno] ?? `errno ${errno}`;
    super(`${call} failed: ${name}`);
    this.code = name;
  }
  readonly code: string;
}

/** errno of the last failed call on this thread. */
export function errno(): number {
  return read.i32(lib.__errno_location()!, 0);
}

function check(call: string, rc: number): number {
  if (rc < 0) throw new SysError(call, errno());
  return rc;
}

/** NUL-terminated copy for char* arguments; the caller keeps it alive across the call. */
export function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`, "utf8");
}

const LOCK_EX = 2;
const LOCK_NB = 4;

/** Take an exclusive flock without waiting; false when another open file holds it. */
export function tryLockExclusive(fd: number): boolean {
  if (lib.flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
  const e = errno();
  if (e === 11) return false; // EWOULDBLOCK
  throw new SysError("flock", e);
}

export function socket(domain: number, type: number, protocol: number): number {
  return check("socket", lib.socket(domain, type, protocol));
}

export function setsockopt(fd: number, level: number, name: number, value: Uint8Array): void {
  check("setsockopt", lib.setsockopt(fd, level, name, ptr(value), value.length));
}

export function bind(fd: number, addr: Uint8Array): void {
  check("bind", lib.bind(fd, ptr(addr), addr.length));
}

export function ioctl(fd: number, request: number, arg: Uint8Array): void {
  check("ioctl", lib.ioctl(fd, request, ptr(arg)));
}

export function close(fd: number): void {
  lib.close(fd);
}

/** Interface index, or 0 when no such interface exists. */
export function ifNameToIndex(name: string): number {
  if (name.length === 0 || name.length > 15) return 0;
  return lib.if_nametoindex(ptr(cstr(name)));
}
