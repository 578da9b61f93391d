/**
 * Builds OFFER/ACK/NAK replies: header fields per RFC 2131 Table 3 and the option policy
 * (always 53, 54, 51, 58, 59, 1, 28; the configurable ones only when the client's option 55
 * asks for them, or all of them when it sent no list), echoing 61 (RFC 6842) and 82 (RFC 3046,
 * last).
 */
import { BOOTREPLY, encode, MAX_LEN, type DhcpMessage, type Encoded } from "./codec.ts";
import { dhcpHostname, type DhcpHost } from "./host.ts";
import { ANY4, broadcast4, ip4Bytes, netmask4 } from "../net/ip.ts";
import {
  classlessRoutes,
  domainSearch,
  ips,
  MessageType,
  Opt,
  readU16,
  str,
  u32,
  u8,
  u16,
  type Route,
} from "./options.ts";

export const BROADCAST_FLAG = 0x8000;
/** IP + UDP headers, subtracted from option 57 to get the room for the DHCP message. */
const IP_UDP = 28;

export interface LeaseTimes {
  lease: number;
  t1: number;
  t2: number;
}

/**
 * RFC 2131 §4.4.5 defaults (T1 = ½, T2 = ⅞ of the lease) minus up to 5 % (at most 300 s) of
 * jitter so that many guests booted together do not renew in lock-step.
 */
export function leaseTimes(leaseSeconds: number, random: () => number): LeaseTimes {
  const lease = Math.max(120, Math.floor(leaseSeconds));
  const jitter = Math.floor(random() * Math.min(lease / 20, 300));
  return { lease, t1: Math.floor(lease / 2) - jitter, t2: Math.floor((lease * 7) / 8) - jitter };
}

/**
 * Option 121 and whether option 3 goes out; the two stay consistent (RFC 3442: a client that
 * gets 121 ignores 3, so the default route is repeated in 121). No router (a non-first NIC under
 * use_single_default_gateway) means neither option 3 nor a default classless route.
 */
function routing(host: DhcpHost): { router: string | null; routes: Route[] } {
  const router = host.router;
  const routes = [...host.classlessRoutes];
  if (router) routes.push({ destination: "0.0.0.0/0", gateway: router });
  return { router, routes };
}

interface HostOptions {
  mask: Uint8Array;
  broadcast: Uint8Array;
  /** The optional options this host has values for, by code. */
  optional: Map<number, Uint8Array>;
}

/**
 * Encoded option values per host. Host objects are replaced, never mutated, when the table
 * changes, so a WeakMap keyed on them can never serve stale values.
 */
const encodedHosts = new WeakMap<DhcpHost, HostOptions>();

function hostOptions(host: DhcpHost): HostOptions {
  let o = encodedHosts.get(host);
  if (!o) {
    o = {
      mask: Uint8Array.from(ip4Bytes(netmask4(host.prefixLength))),
      broadcast: Uint8Array.from(ip4Bytes(broadcast4(host.address, host.prefixLength))),
      optional: configurable(host),
    };
    encodedHosts.set(host, o);
  }
  return o;
}

function configurable(host: DhcpHost): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  const { router, routes } = routing(host);
  if (router) out.set(Opt.Router, ips([router]));
  if (host.dnsServers.length) out.set(Opt.DnsServers, ips(host.dnsServers));
  if (host.hostname) out.set(Opt.Hostname, str(dhcpHostname(host.hostname, host.domain)));
  if (host.domain) out.set(Opt.DomainName, str(host.domain));
  if (host.mtu !== null && host.mtu >= 68) out.set(Opt.InterfaceMtu, u16(host.mtu));
  if (host.searchDomains.length) out.set(Opt.DomainSearch, domainSearch(host.searchDomains));
  if (routes.length) out.set(Opt.ClasslessRoutes, classlessRoutes(routes));
  return out;
}

function requestedOrder(req: DhcpMessage, available: Map<number, Uint8Array>): [number, Uint8Array][] {
  const prl = req.options.get(Opt.ParameterList);
  if (!prl) return [...available];
  const out: [number, Uint8Array][] = [];
  for (const code of new Set(prl)) {
    const v = available.get(code);
    if (v) out.push([code, v]);
  }
  return out;
}

/** Room for the reply: the client's option 57 less IP/UDP headers, else the 576-byte minimum. */
export function replyLimit(req: DhcpMessage): number {
  const max = readU16(req.options.get(Opt.MaxMessageSize));
  return Math.min(Math.max(max ?? 576, 576), MAX_LEN) - IP_UDP;
}

export interface ReplySpec {
  type: number;
  /** This node's address on the bridge (option 54). */
  serverId: string;
  /** The client's configuration; null only for a NAK. */
  host: DhcpHost | null;
  /** Zero for NAK and for the ACK to an INFORM. */
  yiaddr: string;
  /** The client's ciaddr in the ACK to an INFORM, else zero. */
  ciaddr: string;
  /** Lease times for OFFER/ACK; null for NAK and INFORM. */
  times: LeaseTimes | null;
  /** Option 56 text for a NAK. */
  message?: string;
}

export function buildReply(req: DhcpMessage, spec: ReplySpec): Encoded {
  const opts: [number, Uint8Array][] = [
    [Opt.MessageType, u8(spec.type)],
    [Opt.ServerId, ips([spec.serverId])],
  ];
  if (spec.type === MessageType.Nak || !spec.host) {
    if (spec.message) opts.push([Opt.Message, str(spec.message)]);
  } else {
    if (spec.times) {
      opts.push(
        [Opt.LeaseTime, u32(spec.times.lease)],
        [Opt.RenewalTime, u32(spec.times.t1)],
        [Opt.RebindingTime, u32(spec.times.t2)],
      );
    }
    const encoded = hostOptions(spec.host);
    opts.push([Opt.SubnetMask, encoded.mask], [Opt.Broadcast, encoded.broadcast]);
    opts.push(...requestedOrder(req, encoded.optional));
  }
  const clientId = req.options.get(Opt.ClientId);
  if (clientId) opts.push([Opt.ClientId, clientId]);
  const agent = req.options.get(Opt.RelayAgentInfo);
  if (agent) opts.push([Opt.RelayAgentInfo, agent]);
  const relayed = req.giaddr !== ANY4;
  // A relayed NAK must be broadcast by the relay: RFC 2131 §4.3.2.
  const flags = spec.type === MessageType.Nak && relayed ? req.flags | BROADCAST_FLAG : req.flags;
  return encode(
    {
      op: BOOTREPLY,
      htype: req.htype,
      hlen: req.hlen,
      hops: 0,
      xid: req.xid,
      secs: 0,
      flags,
      ciaddr: spec.ciaddr,
      yiaddr: spec.yiaddr,
      siaddr: ANY4,
      giaddr: req.giaddr,
      chaddr: req.chaddr,
      options: opts,
    },
    replyLimit(req),
  );
}
