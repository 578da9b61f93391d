/**
 * What one served bridge advertises, and how that turns into RA contents. Pure: validation
 * happens once in `checkBridgeConfig` (startup/reconcile regime, throws), and `advertFor` only
 * assembles fields.
 */
import ipaddr from "ipaddr.js";
import type { PrefixInfo, RouteInfo, RouterAdvert, RouterPreference } from "./packet.ts";

export interface Lifetimes {
  /** Prefix valid lifetime, s. @default 86400 (radvd's default, as nova ran it) */
  valid?: number;
  /** Prefix preferred lifetime, s. @default 14400 (radvd's default) */
  preferred?: number;
  /** Router lifetime, s; 0 means "not a default router". @default 3 × MaxRtrAdvInterval */
  router?: number;
  /** RDNSS/DNSSL lifetime, s; RFC 8106 §5.1 wants at least 3 × Max. @default 3 × Max */
  dns?: number;
}

export interface BridgeConfig {
  bridge: string;
  /** The network's IPv6 prefix; SLAAC needs a /64. */
  prefix: string;
  /** Link MTU to advertise (the network's mtu), or null to leave the option out. */
  mtu: number | null;
  rdnss: string[];
  dnssl: string[];
  lifetimes?: Lifetimes;
  /** More-specific routes (RFC 4191); Linux hosts ignore them unless accept_ra_rt_info_max_plen > 0. */
  routes?: RouteInfo[];
  /** Default-router preference (RFC 4191). @default "medium" */
  preference?: RouterPreference;
  /** M and O flags: no DHCPv6 here, so both are off unless asked for. */
  managed?: boolean;
  other?: boolean;
  /** The network is being removed: final RAs also zero the prefix and DNS lifetimes. */
  removed?: boolean;
}

/** RFC 4861 §6.2.1 upper bound for AdvDefaultLifetime (RFC 8319 allows more; radvd keeps 9000). */
const MAX_ROUTER_LIFETIME = 9000;

/** Throws a RangeError naming the bridge and the bad field; returns the config with defaults. */
export function checkBridgeConfig(cfg: BridgeConfig, maxIntervalMs: number): Required<Lifetimes> {
  const where = `Cannot advertise on '${cfg.bridge}'`;
  if (!/^[\w.-]{1,15}$/.test(cfg.bridge)) throw new RangeError(`${where} as it is not a valid interface name`);
  requireSlaacPrefix(cfg.prefix);
  const max = Math.ceil(maxIntervalMs / 1000);
  const l = cfg.lifetimes ?? {};
  const lt: Required<Lifetimes> = {
    valid: l.valid ?? 86400,
    preferred: l.preferred ?? 14400,
    router: l.router ?? 3 * max,
    dns: l.dns ?? 3 * max,
  };
  if (lt.preferred > lt.valid)
    throw new RangeError(`${where} as the preferred lifetime ${lt.preferred} exceeds the valid lifetime ${lt.valid}`);
  if (lt.router !== 0 && (lt.router < max || lt.router > MAX_ROUTER_LIFETIME)) {
    throw new RangeError(
      `${where} as the router lifetime must be 0 or ${max}–${MAX_ROUTER_LIFETIME} s: current value is ${lt.router}`,
    );
  }
  if (lt.dns < 3 * max)
    throw new RangeError(
      `${where} as the RDNSS/DNSSL lifetime must be at least 3 × MaxRtrAdvInterval (${3 * max} s): current value is ${lt.dns}`,
    );
  if (cfg.mtu !== null && !(Number.isInteger(cfg.mtu) && cfg.mtu >= 1280 && cfg.mtu <= 65535)) {
    throw new RangeError(`${where} as the MTU must be 1280–65535: current value is ${cfg.mtu}`);
  }
  for (const s of cfg.rdnss)
    if (!ipaddr.IPv6.isValid(s)) throw new RangeError(`${where} as DNS server '${s}' is not an IPv6 address`);
  for (const r of cfg.routes ?? [])
    if (!ipaddr.IPv6.isValidCIDR(r.prefix))
      throw new RangeError(`${where} as route '${r.prefix}' is not an IPv6 prefix`);
  return lt;
}

/** Refuses prefixes hosts cannot autoconfigure from: anything but an IPv6 /64. */
export function requireSlaacPrefix(prefix: string): void {
  if (!ipaddr.IPv6.isValidCIDR(prefix))
    throw new RangeError(`Cannot use '${prefix}' as an IPv6 prefix: it is not an IPv6 CIDR`);
  const [, len] = ipaddr.IPv6.parseCIDR(prefix);
  if (len !== 64) throw new RangeError(`Cannot use '${prefix}' for SLAAC as it needs a /64: current length is ${len}`);
}

/**
 * The RA for `cfg`. A final RA (the router is leaving the link) has router lifetime 0; when the
 * network is being removed it also zeroes the prefix, DNS and route lifetimes. Hosts honour a
 * zero preferred lifetime at once, but RFC 4862 §5.5.3(e) keeps an address valid for up to
 * two more hours whatever the RA says; that is the protocol's protection, not a bug.
 */
export function advertFor(
  cfg: BridgeConfig,
  lt: Required<Lifetimes>,
  sourceMac: string | null,
  final: boolean,
): RouterAdvert {
  const zero = final && cfg.removed === true;
  const prefix: PrefixInfo = {
    prefix: cfg.prefix,
    onLink: true,
    autonomous: true,
    validLifetime: zero ? 0 : lt.valid,
    preferredLifetime: zero ? 0 : lt.preferred,
  };
  return {
    curHopLimit: 64,
    managed: cfg.managed ?? false,
    other: cfg.other ?? false,
    preference: cfg.preference ?? "medium",
    routerLifetime: final ? 0 : lt.router,
    reachableTimeMs: 0,
    retransTimerMs: 0,
    sourceMac,
    mtu: cfg.mtu,
    prefixes: [prefix],
    rdnss: { servers: cfg.rdnss, lifetime: zero ? 0 : lt.dns },
    dnssl: { domains: cfg.dnssl, lifetime: zero ? 0 : lt.dns },
    routes: (cfg.routes ?? []).map((r) => ({ ...r, lifetime: zero ? 0 : r.lifetime })),
  };
}
