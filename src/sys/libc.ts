/**
 * The few libc calls the DHCP server needs that Bun has no API for: creating a UDP socket bound
 * to one device before `bind()`, and writing an ARP entry. Loaded once through bun:ffi; struct
 * layouts are x86-64/aarch64 Linux (LP64, little-endian).
 */
import { dlopen, FFIType, ptr, read } from "bun:ffi";

const lib = dlopen("libc.so.6", {
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  setsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  ioctl: { args: [FFIType.i32, FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
  if_nametoindex: { args: [FFIType.ptr], returns: FFIType.u32 },
  __errno_location: { args: [], returns: FFIType.ptr },
}).symbols;

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 9: "EBADF", 13: "EACCES", 19: "ENODEV", 22: "EINVAL", 98: "EADDRINUSE",
  99: "EADDRNOTAVAIL", 100: "ENETDOWN", 101: "ENETUNREACH",
};

/** A failed libc call, with the errno name in `code` (e.g. "ENODEV"). */
export class SysError extends Error {
  constructor(readonly call: string, readonly errno: number) {
    const name = ERRNO_NAMES[errno] ?? `errno ${errno}`;
    super(`${call} failed: ${name}`);
    this.code = name;
  }
  readonly code: string;
}

function errno(): number {
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
