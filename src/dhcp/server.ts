/**
 * Sans-IO DHCPv4 server for static hosts (RFC 2131 §4.3). `handle` takes one decoded request,
 * the host table of the bridge it arrived on, the lease store (read only) and an injected clock
 * and random source, and says what to send where, which lease writes to make and which events
 * to raise, or why the packet is dropped.
 */
import { BOOTREQUEST, decode, type DecodeError, type DhcpMessage } from "./codec.ts";
import type { DhcpHost } from "./host.ts";
import { macText } from "../net/mac.ts";
import { ANY4 } from "../net/ip.ts";
import type { LeaseEvent, LeaseOp, LeaseRecord, LeaseStore } from "./leases.ts";
import { MessageType, Opt, readIp, readU8 } from "./options.ts";
import { BROADCAST_FLAG, buildReply, leaseTimes, type ReplySpec } from "./reply.ts";

/** A client that declined its address is not offered it again for this long (as dnsmasq). */
export const DECLINE_BACKOFF_MS = 10 * 60_000;

export interface HandleContext {
  /** Milliseconds since the epoch. */
  now: number;
  /** Uniform in [0, 1); drives T1/T2 jitter. */
  random: () => number;
  /** Hosts served on the bridge the packet arrived on, by lower-case MAC. */
  hosts: ReadonlyMap<string, DhcpHost>;
  /**
   * Hosts this node stopped serving on this bridge (instance deleted or moved), by MAC. Only
   * these get a NAK when they renew: a MAC merely unknown here may belong to another node on
   * the same segment (multi_host), and must hear nothing from us.
   */
  retired: ReadonlyMap<string, RetiredHost>;
  leases: LeaseStore;
  /** This node's address on the bridge, for NAKs to clients no longer in `hosts`. */
  serverId: string | null;
}

export interface RetiredHost {
  networkId: string;
  address: string;
  /** Milliseconds since the epoch after which the client's lease would have run out anyway. */
  until: number;
}

export type Destination =
  | { kind: "relay"; address: string; port: 67 }
  | { kind: "broadcast"; port: 68 }
  /** The client has an address and answers ARP itself. */
  | { kind: "unicast"; address: string; port: 68 }
  /** The client has no address yet: the shell installs yiaddr→mac in the ARP table first. */
  | { kind: "unicast-hw"; address: string; mac: string; port: 68 };

export type DropReason =
  | DecodeError
  | "not_request"
  | "not_dhcp"
  | "bad_htype"
  | "bad_message_type"
  | "bad_request"
  | "unknown_mac"
  | "other_server"
  | "declined_backoff";

export type HandleResult =
  | {
      kind: "reply";
      reply: Uint8Array;
      /** Option 53 of the reply. */
      type: number;
      destination: Destination;
      leaseOps: LeaseOp[];
      events: LeaseEvent[];
      /** Option codes left out because the client's size limit had no room for them. */
      omitted: number[];
    }
  /** Handled without a reply (RELEASE, DECLINE). */
  | { kind: "silent"; leaseOps: LeaseOp[]; events: LeaseEvent[] }
  | { kind: "drop"; reason: DropReason };

const drop = (reason: DropReason): HandleResult => ({ kind: "drop", reason });

/** Decodes and handles one datagram. */
export function handlePacket(packet: Uint8Array, ctx: HandleContext): HandleResult {
  const d = decode(packet);
  return d.ok ? handle(d.message, ctx) : drop(d.error);
}

export function handle(req: DhcpMessage, ctx: HandleContext): HandleResult {
  if (req.op !== BOOTREQUEST) return drop("not_request");
  const type = readU8(req.options.get(Opt.MessageType));
  if (type === null) return drop("not_dhcp");
  // Static mappings are keyed on the Ethernet MAC, as nova's hosts file was.
  if (req.htype !== 1 || req.hlen !== 6) return drop("bad_htype");
  const mac = macText(req.chaddr);
  switch (type) {
    case MessageType.Discover:
      return discover(req, mac, ctx);
    case MessageType.Request:
      return request(req, mac, ctx);
    case MessageType.Decline:
      return decline(req, mac, ctx);
    case MessageType.Release:
      return release(req, mac, ctx);
    case MessageType.Inform:
      return inform(req, mac, ctx);
    default:
      return drop("bad_message_type");
  }
}

function discover(req: DhcpMessage, mac: string, ctx: HandleContext): HandleResult {
  const host = ctx.hosts.get(mac);
  if (!host) return drop("unknown_mac");
  const lease = ctx.leases.get(host.networkId, mac);
  if (lease?.state === "declined" && lease.address === host.address && ctx.now - lease.updatedAt < DECLINE_BACKOFF_MS) {
    return drop("declined_backoff");
  }
  const times = leaseTimes(host.leaseTime, ctx.random);
  return reply(
    req,
    { type: MessageType.Offer, serverId: host.serverId, host, yiaddr: host.address, ciaddr: ANY4, times },
    [],
    [],
  );
}

/** REQUEST: the client state follows from which of server-id, requested-ip and ciaddr are set. */
function request(req: DhcpMessage, mac: string, ctx: HandleContext): HandleResult {
  const serverId = readIp(req.options.get(Opt.ServerId));
  const requested = readIp(req.options.get(Opt.RequestedAddress));
  const host = ctx.hosts.get(mac);
  if (serverId !== null) {
    // SELECTING: the client picked a server; if it is not us, stay out of it.
    if (!host) return drop("unknown_mac");
    if (serverId !== host.serverId) return drop("other_server");
    const wanted = requested ?? (req.ciaddr !== ANY4 ? req.ciaddr : null);
    return wanted === host.address
      ? ack(req, host, mac, ctx)
      : nak(req, host.serverId, "requested address not offered");
  }
  if (requested !== null && req.ciaddr === ANY4) {
    // INIT-REBOOT: "if the server has no record of this client, it MUST remain silent".
    if (!host) return drop("unknown_mac");
    return requested === host.address ? ack(req, host, mac, ctx) : nak(req, host.serverId, "wrong address");
  }
  if (req.ciaddr !== ANY4) {
    // RENEWING (unicast) or REBINDING (broadcast): both are answered the same way.
    if (host) return req.ciaddr === host.address ? ack(req, host, mac, ctx) : nak(req, host.serverId, "wrong address");
    // A host this node served until it was removed (instance deleted): refuse its lease.
    const gone = ctx.retired.get(mac);
    if (gone && gone.address === req.ciaddr && gone.until > ctx.now && ctx.serverId)
      return nak(req, ctx.serverId, "lease no longer valid");
    return drop("unknown_mac");
  }
  return drop("bad_request");
}

function ack(req: DhcpMessage, host: DhcpHost, mac: string, ctx: HandleContext): HandleResult {
  const times = leaseTimes(host.leaseTime, ctx.random);
  const prior = ctx.leases.get(host.networkId, mac);
  const renewed =
    prior !== null && prior.state === "leased" && prior.address === host.address && prior.expiresAt > ctx.now;
  const clientId = req.options.get(Opt.ClientId);
  const lease: LeaseRecord = {
    networkId: host.networkId,
    mac,
    address: host.address,
    hostname: host.hostname,
    clientId: clientId ? Buffer.from(clientId).toString("hex") : null,
    state: "leased",
    expiresAt: ctx.now + times.lease * 1000,
    updatedAt: ctx.now,
  };
  const event = leaseEvent(renewed ? "lease.renewed" : "lease.added", lease, ctx.now);
  return reply(
    req,
    { type: MessageType.Ack, serverId: host.serverId, host, yiaddr: host.address, ciaddr: ANY4, times },
    [{ op: "put", lease }],
    [event],
  );
}

function nak(req: DhcpMessage, serverId: string, message: string): HandleResult {
  return reply(
    req,
    { type: MessageType.Nak, serverId, host: null, yiaddr: ANY4, ciaddr: ANY4, times: null, message },
    [],
    [],
  );
}

function decline(req: DhcpMessage, mac: string, ctx: HandleContext): HandleResult {
  const host = ctx.hosts.get(mac);
  if (!host) return drop("unknown_mac");
  const serverId = readIp(req.options.get(Opt.ServerId));
  if (serverId !== null && serverId !== host.serverId) return drop("other_server");
  if (readIp(req.options.get(Opt.RequestedAddress)) !== host.address) return drop("bad_request");
  const lease = endLease(host.networkId, mac, host.address, host.hostname, "declined", ctx.now);
  return { kind: "silent", leaseOps: [{ op: "put", lease }], events: [leaseEvent("lease.declined", lease, ctx.now)] };
}

function release(req: DhcpMessage, mac: string, ctx: HandleContext): HandleResult {
  const serverId = readIp(req.options.get(Opt.ServerId));
  const host = ctx.hosts.get(mac);
  if (host && serverId !== null && serverId !== host.serverId) return drop("other_server");
  // A removed host's lease was already released when it left the table.
  if (!host) return drop("unknown_mac");
  if (req.ciaddr !== host.address) return drop("bad_request");
  const lease = endLease(host.networkId, mac, req.ciaddr, host.hostname, "released", ctx.now);
  return { kind: "silent", leaseOps: [{ op: "put", lease }], events: [leaseEvent("lease.released", lease, ctx.now)] };
}

/** INFORM: configuration only, no lease, sent to the address the client already has. */
function inform(req: DhcpMessage, mac: string, ctx: HandleContext): HandleResult {
  const host = ctx.hosts.get(mac);
  if (!host) return drop("unknown_mac");
  if (req.ciaddr === ANY4) return drop("bad_request");
  return reply(
    req,
    { type: MessageType.Ack, serverId: host.serverId, host, yiaddr: ANY4, ciaddr: req.ciaddr, times: null },
    [],
    [],
  );
}

function reply(req: DhcpMessage, spec: ReplySpec, leaseOps: LeaseOp[], events: LeaseEvent[]): HandleResult {
  const encoded = buildReply(req, spec);
  return {
    kind: "reply",
    reply: encoded.bytes,
    type: spec.type,
    destination: destination(req, spec),
    leaseOps,
    events,
    omitted: encoded.dropped,
  };
}

/** RFC 2131 §4.1, in order: relay, NAK broadcast, ciaddr, broadcast flag, then yiaddr at L2. */
export function destination(req: DhcpMessage, spec: Pick<ReplySpec, "type" | "yiaddr">): Destination {
  if (req.giaddr !== ANY4) return { kind: "relay", address: req.giaddr, port: 67 };
  if (spec.type === MessageType.Nak) return { kind: "broadcast", port: 68 };
  if (req.ciaddr !== ANY4) return { kind: "unicast", address: req.ciaddr, port: 68 };
  if (req.flags & BROADCAST_FLAG || spec.yiaddr === ANY4) return { kind: "broadcast", port: 68 };
  return { kind: "unicast-hw", address: spec.yiaddr, mac: macText(req.chaddr), port: 68 };
}

function endLease(
  networkId: string,
  mac: string,
  address: string,
  hostname: string | null,
  state: "released" | "declined",
  now: number,
): LeaseRecord {
  return { networkId, mac, address, hostname, clientId: null, state, expiresAt: now, updatedAt: now };
}

export function leaseEvent(type: LeaseEvent["type"], lease: LeaseRecord, at: number): LeaseEvent {
  return { type, networkId: lease.networkId, mac: lease.mac, address: lease.address, hostname: lease.hostname, at };
}
