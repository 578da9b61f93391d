/**
 * A raw ICMPv6 socket bound to one interface, through bun:ffi calls into lib. Used to send
 * Router Advertisements and receive Router Solicitations on a bridge. Node/Bun sockets cannot do
 * this: they have no raw ICMPv6, and a raw fd cannot be adopted by `Bun.udpSocket({fd})` (EINVAL).
 *
 * The socket is non-blocking; `receive()` returns null when nothing is queued, so the caller
 * polls it, optionally woken early by a doorbell (`openDoorbell`, see src/ra/service.ts for
 * the measurements behind this design). All buffers the kernel reads or writes are allocated
 * once per socket and reused, so the FFI pointers stay valid.
 * Struct layouts are x86-64/aarch64 Linux (LP64, little-endian).
 */
import { ptr } from "bun:ffi";
import { cstr, errno, errnoName, ifNameToIndex, lib } from "./libc.ts";
import ipaddr from "ipaddr.js";

const AF_INET6 = 10;
const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0x800;
const SOCK_CLOEXEC = 0x80000;
const IPPROTO_ICMPV6 = 58;
const SOL_SOCKET = 1;
const SO_BINDTODEVICE = 25;
const IPPROTO_IPV6 = 41;
const IPV6_UNICAST_HOPS = 16;
const IPV6_MULTICAST_IF = 17;
const IPV6_MULTICAST_HOPS = 18;
const IPV6_MULTICAST_LOOP = 19;
const IPV6_JOIN_GROUP = 20;
const IPV6_PKTINFO = 50;
const IPV6_RECVHOPLIMIT = 51;
const IPV6_HOPLIMIT = 52;
const ICMP6_FILTER = 1;
const MSG_DONTWAIT = 0x40;
const MSG_TRUNC = 0x20;
const EAGAIN = 11;

export { errnoName, ifNameToIndex as ifIndex };

function int32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v, true);
  return b;
}

export interface RawIcmp6Options {
  /** ICMPv6 types the kernel passes up; every other type is filtered. @default [133] (RS) */
  passTypes?: number[];
  /** Join ff02::2 (all-routers) so solicitations addressed to routers arrive. @default true */
  joinAllRouters?: boolean;
  /** Hop limit of sent packets; ND requires 255 (RFC 4861 §6.1). @default 255 */
  hopLimit?: number;
}

export interface Received {
  data: Uint8Array;
  source: string;
  /** From the IPV6_HOPLIMIT control message; null when the kernel gave none. */
  hopLimit: number | null;
  /** The datagram was larger than the receive buffer. */
  truncated: boolean;
}

const RECV_BYTES = 2048;

export class RawIcmp6Socket {
  readonly ifname: string;
  readonly ifindex: number;
  #fd: number;
  // Reused receive-side buffers (pointers to them live inside #rxMsg).
  readonly #rxData = new Uint8Array(RECV_BYTES);
  readonly #rxName = new Uint8Array(28);
  readonly #rxCtl = new Uint8Array(64);
  readonly #rxIov = new Uint8Array(16);
  readonly #rxMsg = new Uint8Array(56);

  private constructor(fd: number, ifname: string, ifindex: number) {
    this.#fd = fd;
    this.ifname = ifname;
    this.ifindex = ifindex;
    const iov = new DataView(this.#rxIov.buffer);
    iov.setBigUint64(0, BigInt(ptr(this.#rxData)), true);
    iov.setBigUint64(8, BigInt(RECV_BYTES), true);
  }

  /** Opens and configures the socket; throws with the failing step and errno. */
  static open(ifname: string, opts: RawIcmp6Options = {}): RawIcmp6Socket {
    const ifindex = ifNameToIndex(ifname);
    if (ifindex === 0) throw new Error(`Cannot open ICMPv6 socket on '${ifname}' as the interface does not exist`);
    const fd = lib.socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
    if (fd < 0) throw new Error(`Cannot open ICMPv6 socket on '${ifname}': socket() failed with ${errnoName(errno())}`);
    const sock = new RawIcmp6Socket(fd, ifname, ifindex);
    try {
      sock.#configure(opts);
    } catch (e) {
      sock.close();
      throw e;
    }
    return sock;
  }

  #configure(opts: RawIcmp6Options): void {
    const hops = opts.hopLimit ?? 255;
    const name = cstr(this.ifname);
    this.#setopt(SOL_SOCKET, SO_BINDTODEVICE, name, "SO_BINDTODEVICE");
    this.#setopt(IPPROTO_IPV6, IPV6_UNICAST_HOPS, int32(hops), "IPV6_UNICAST_HOPS");
    this.#setopt(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, int32(hops), "IPV6_MULTICAST_HOPS");
    this.#setopt(IPPROTO_IPV6, IPV6_MULTICAST_IF, int32(this.ifindex), "IPV6_MULTICAST_IF");
    this.#setopt(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, int32(0), "IPV6_MULTICAST_LOOP");
    this.#setopt(IPPROTO_IPV6, IPV6_RECVHOPLIMIT, int32(1), "IPV6_RECVHOPLIMIT");
    this.#setopt(IPPROTO_ICMPV6, ICMP6_FILTER, icmp6Filter(opts.passTypes ?? [133]), "ICMP6_FILTER");
    if (opts.joinAllRouters ?? true) {
      const mreq = new Uint8Array(20);
      mreq.set(ipaddr.IPv6.parse("ff02::2").toByteArray(), 0);
      mreq.set(int32(this.ifindex), 16);
      this.#setopt(IPPROTO_IPV6, IPV6_JOIN_GROUP, mreq, "IPV6_JOIN_GROUP ff02::2");
    }
  }

  #setopt(level: number, name: number, value: Uint8Array, what: string): void {
    if (lib.setsockopt(this.#fd, level, name, ptr(value), value.length) !== 0) {
      throw new Error(`Cannot configure ICMPv6 socket on '${this.ifname}': ${what} failed with ${errnoName(errno())}`);
    }
  }

  /**
   * Sends one ICMPv6 message to `dst` out of this interface. `src` picks the source address
   * (through an IPV6_PKTINFO control message); without it the kernel chooses. The kernel fills
   * the ICMPv6 checksum. Returns 0 or the errno.
   */
  send(data: Uint8Array, dst: string, src?: string): number {
    if (this.#fd < 0) return 9; // EBADF
    const name = sockaddrIn6(dst, this.ifindex);
    const ctl = new Uint8Array(40);
    const c = new DataView(ctl.buffer);
    c.setBigUint64(0, 36n, true); // CMSG_LEN(sizeof in6_pktinfo = 20)
    c.setInt32(8, IPPROTO_IPV6, true);
    c.setInt32(12, IPV6_PKTINFO, true);
    ctl.set(ipaddr.IPv6.parse(src ?? "::").toByteArray(), 16);
    c.setUint32(32, this.ifindex, true);
    const iov = new Uint8Array(16);
    const iv = new DataView(iov.buffer);
    iv.setBigUint64(0, BigInt(ptr(data)), true);
    iv.setBigUint64(8, BigInt(data.length), true);
    const msg = msghdr(name, iov, ctl);
    const n = lib.sendmsg(this.#fd, ptr(msg), 0);
    return Number(n) < 0 ? errno() : 0;
  }

  /** One queued datagram, or null when none is waiting (or the socket is closed). Never blocks. */
  receive(): Received | null | { error: number } {
    if (this.#fd < 0) return null;
    this.#rxCtl.fill(0);
    const m = new DataView(msghdrInto(this.#rxMsg, this.#rxName, this.#rxIov, this.#rxCtl).buffer);
    const n = Number(lib.recvmsg(this.#fd, ptr(this.#rxMsg), MSG_DONTWAIT));
    if (n < 0) {
      const e = errno();
      return e === EAGAIN ? null : { error: e };
    }
    const flags = m.getInt32(48, true);
    const ctlLen = Number(m.getBigUint64(40, true));
    return {
      data: this.#rxData.slice(0, Math.min(n, RECV_BYTES)),
      source: ipaddr.fromByteArray([...this.#rxName.subarray(8, 24)]).toString(),
      hopLimit: findHopLimit(this.#rxCtl.subarray(0, ctlLen)),
      truncated: (flags & MSG_TRUNC) !== 0,
    };
  }

  /** The file descriptor (for readiness watching only; never close it directly). */
  get fd(): number {
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  close(): void {
    if (this.#fd >= 0) lib.close(this.#fd);
    this.#fd = -1;
  }
}

/** Linux ICMP6_FILTER semantics: a set bit blocks that type (the opposite of RFC 3542's macros). */
function icmp6Filter(pass: number[]): Uint8Array {
  const words = new Uint32Array(8).fill(0xffffffff);
  for (const t of pass) words[t >> 5] &= ~(1 << (t & 31)) >>> 0;
  return new Uint8Array(words.buffer);
}

function sockaddrIn6(addr: string, scopeId: number): Uint8Array {
  const b = new Uint8Array(28);
  const v = new DataView(b.buffer);
  v.setUint16(0, AF_INET6, true);
  b.set(ipaddr.IPv6.parse(addr).toByteArray(), 8);
  v.setUint32(24, scopeId, true);
  return b;
}

function msghdr(name: Uint8Array, iov: Uint8Array, ctl: Uint8Array): Uint8Array {
  return msghdrInto(new Uint8Array(56), name, iov, ctl);
}

function msghdrInto(msg: Uint8Array, name: Uint8Array, iov: Uint8Array, ctl: Uint8Array): Uint8Array {
  msg.fill(0);
  const m = new DataView(msg.buffer);
  m.setBigUint64(0, BigInt(ptr(name)), true);
  m.setUint32(8, name.length, true);
  m.setBigUint64(16, BigInt(ptr(iov)), true);
  m.setBigUint64(24, 1n, true);
  m.setBigUint64(32, BigInt(ptr(ctl)), true);
  m.setBigUint64(40, BigInt(ctl.length), true);
  return msg;
}

/** Walks the control messages for IPV6_HOPLIMIT (cmsghdr: len u64, level i32, type i32, data). */
function findHopLimit(ctl: Uint8Array): number | null {
  const v = new DataView(ctl.buffer, ctl.byteOffset, ctl.byteLength);
  for (let at = 0; at + 16 <= ctl.length; ) {
    const len = Number(v.getBigUint64(at, true));
    if (len < 16) return null;
    if (
      v.getInt32(at + 8, true) === IPPROTO_IPV6 &&
      v.getInt32(at + 12, true) === IPV6_HOPLIMIT &&
      at + 20 <= ctl.length
    ) {
      return v.getInt32(at + 16, true);
    }
    at += (len + 7) & ~7;
  }
  return null;
}

export interface Doorbell {
  /** Stops the wakeups and closes the doorbell socket (after Bun has let go of it). */
  close(): void;
}

/**
 * Calls `onReadable` soon after a datagram matching `opts` arrives on `ifname`, without a
 * thread and without polling. The kernel gives every raw socket its own copy of each matching
 * datagram, so a second socket with the same filter works as a doorbell: Bun's event loop can
 * watch a plain fd through `Bun.file(fd).stream()` (epoll; measured 0.33 ms median wakeup on
 * loopback), while the datagrams that matter, with their source address and hop limit, stay
 * queued on the caller's own socket for recvmsg. The doorbell's copies are read and dropped.
 */
export function openDoorbell(ifname: string, opts: RawIcmp6Options, onReadable: () => void): Doorbell {
  const sock = RawIcmp6Socket.open(ifname, opts);
  return watchFd(sock.fd, onReadable, () => sock.close());
}

const AF_NETLINK = 16;
const NETLINK_ROUTE = 0;
const RTMGRP_LINK = 1;

/**
 * Calls `onEvent` whenever the kernel announces a link change in this namespace (rtnetlink
 * RTMGRP_LINK: a port added to a bridge, carrier up or down, ...). The messages themselves are
 * read and dropped by Bun; the caller re-reads whatever state it cares about, so a missed or
 * merged event costs nothing but a later look. Throws when the socket cannot be set up.
 */
export function openLinkDoorbell(onEvent: () => void): Doorbell {
  const fd = lib.socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) throw new Error(`Cannot watch links: netlink socket() failed with ${errnoName(errno())}`);
  const sa = new Uint8Array(12); // sockaddr_nl: family u16, pad u16, pid u32, groups u32
  const v = new DataView(sa.buffer);
  v.setUint16(0, AF_NETLINK, true);
  v.setUint32(8, RTMGRP_LINK, true);
  if (lib.bind(fd, ptr(sa), sa.length) !== 0) {
    const e = errno();
    lib.close(fd);
    throw new Error(`Cannot watch links: netlink bind() failed with ${errnoName(e)}`);
  }
  return watchFd(fd, onEvent, () => lib.close(fd));
}

function watchFd(fd: number, onReadable: () => void, closeFd: () => void): Doorbell {
  const reader = Bun.file(fd).stream().getReader();
  let open = true;
  void (async () => {
    try {
      while (open) {
        const r = await reader.read();
        if (r.done) break;
        if (open) onReadable();
      }
    } catch {
      // A read error only ends the wakeups; callers keep a periodic check as the safety net.
    }
  })();
  return {
    close() {
      if (!open) return;
      open = false;
      // Close the fd only once Bun no longer watches it, or a reused fd number could be read.
      reader.cancel().finally(closeFd);
    },
  };
}
