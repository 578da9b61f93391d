/**
 * Reads the INI configuration (nova.conf names) into one typed, validated `Config`. A bad value
 * fails with `config: <key> = <value>: <what is allowed>`; an unknown key is reported as a
 * warning and otherwise ignored, as nova did with options it did not know.
 */
import { parse as parseIni } from "ini";
import * as v from "valibot";
import ipaddr from "ipaddr.js";
import { isIfName } from "../net/ifname.ts";
import { OPTIONS, type OptionSpec, type OptionType } from "./options.ts";

/** Where the agent and the CLI look for the configuration file unless told otherwise. */
export const DEFAULT_CONFIG = "/etc/netlet/netlet.conf";

export interface Config {
  myIp: string | null;
  host: string | null;
  statePath: string;
  networkManager: "flat" | "flatdhcp" | "vlan";
  multiHost: boolean;
  publicInterface: string;
  flatInterface: string | null;
  vlanInterface: string | null;
  flatNetworkBridge: string;
  flatNetworkDns: string;
  dhcpLeaseTime: number;
  dhcpDomain: string;
  dnsServer: string[];
  dnsService: boolean;
  dnsRateLimit: number;
  useSingleDefaultGateway: boolean;
  forceDhcpRelease: boolean;
  shareDhcpAddress: boolean;
  networkDeviceMtu: number | null;
  useIpv6: boolean;
  raRouterLifetime: number | null;
  fixedRangeV6: string;
  gatewayV6: string | null;
  ipv6Backend: "rfc2462";
  metadataHost: string | null;
  metadataPort: number;
  metadataListen: string;
  metadataListenPort: number;
  metadataCacheExpiration: number;
  metadataWorkers: number;
  vendordataJsonfilePath: string | null;
  vendordataDynamicTargets: string[];
  dmzCidr: string[];
  forceSnatRange: string[];
  routingSourceIp: string | null;
  autoAssignFloatingIp: boolean;
  defaultFloatingPool: string;
  sendArpForHa: boolean;
  sendArpForHaCount: number;
  firewallDriver: "nftables" | "iptables" | "noop";
  allowSameNetTraffic: boolean;
  adminListen: string;
  libvirtUri: string;
  libvirtPollInterval: number;
  libvirtUndefineGrace: number;
  adminSocket: string;
  logLevel: "debug" | "info" | "warn" | "error";
  cluster: {
    bind: string;
    advertise: string | null;
    join: string[];
    name: string;
    keyFile: string | null;
    blockPrefix: number;
  };
}

export class ConfigError extends Error {
  constructor(
    readonly key: string,
    readonly value: string,
    readonly allowed: string,
  ) {
    super(`config: ${key} = ${value}: ${allowed}`);
  }
}

const list = (s: string) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
const isCidr = (s: string) => {
  try {
    ipaddr.parseCIDR(s);
    return true;
  } catch {
    return false;
  }
};

/** What the value must look like, in words, for the error message. */
function allowedText(t: OptionType): string {
  switch (t.kind) {
    case "bool":
      return "expected true or false";
    case "int":
      return `expected an integer from ${t.min} to ${t.max}`;
    case "enum":
      return `expected one of ${t.values.join(", ")}`;
    case "ipv4":
      return "expected an IPv4 address";
    case "ip":
      return "expected an IPv4 or IPv6 address";
    case "ipv6":
      return "expected an IPv6 address";
    case "ip-list":
      return "expected a comma-separated list of IP addresses";
    case "cidr-list":
      return "expected a comma-separated list of CIDRs (e.g. 10.0.0.0/8)";
    case "iface":
      return "expected an interface name (1-15 bytes, no '/', ':', quotes, whitespace or control characters, not . or ..)";
    case "path":
      return "expected an absolute path";
    case "peer-list":
      return "expected a comma-separated list of host:port";
    case "target-list":
      return "expected a comma-separated list of name@url";
    case "string":
      return "expected a non-empty string";
  }
}

function schemaFor(t: OptionType): v.GenericSchema<string, unknown> {
  switch (t.kind) {
    case "bool":
      return v.pipe(
        v.string(),
        v.toLowerCase(),
        v.picklist(["true", "false", "1", "0", "yes", "no", "on", "off"]),
        v.transform((s) => ["true", "1", "yes", "on"].includes(s)),
      );
    case "int":
      return v.pipe(v.string(), v.regex(/^-?\d+$/), v.transform(Number), v.minValue(t.min), v.maxValue(t.max));
    case "enum":
      return v.pipe(v.string(), v.toLowerCase(), v.picklist(t.values as string[]));
    case "ipv4":
      return v.pipe(
        v.string(),
        v.check((s) => ipaddr.IPv4.isValidFourPartDecimal(s)),
      );
    case "ip":
      return v.pipe(
        v.string(),
        v.check((s) => ipaddr.isValid(s)),
      );
    case "ipv6":
      return v.pipe(
        v.string(),
        v.check((s) => ipaddr.IPv6.isValid(s) && !ipaddr.IPv4.isValid(s)),
      );
    case "ip-list":
      return v.pipe(
        v.string(),
        v.transform(list),
        v.array(
          v.pipe(
            v.string(),
            v.check((s) => ipaddr.isValid(s)),
          ),
        ),
      );
    case "cidr-list":
      return v.pipe(v.string(), v.transform(list), v.array(v.pipe(v.string(), v.check(isCidr))));
    case "iface":
      return v.pipe(v.string(), v.check(isIfName));
    case "path":
      return v.pipe(v.string(), v.startsWith("/"));
    case "peer-list":
      return v.pipe(
        v.string(),
        v.transform(list),
        v.array(v.pipe(v.string(), v.regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/))),
      );
    case "target-list":
      return v.pipe(v.string(), v.transform(list), v.array(v.pipe(v.string(), v.regex(/^[^@\s]+@https?:\/\/\S+$/))));
    case "string":
      return v.pipe(v.string(), v.minLength(1));
  }
}

const camel = (k: string) => k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** An empty value means "unset": the option's nullable/empty default applies. */
function emptyValue(spec: OptionSpec): unknown {
  if (["ip-list", "cidr-list", "peer-list", "target-list"].includes(spec.type.kind)) return [];
  return null;
}

/** nova.conf names classes where netlet names drivers: accept the classes a nova operator has. */
const NOVA_CLASSES: Record<string, Record<string, string>> = {
  network_manager: {
    "nova.network.manager.flatmanager": "flat",
    "nova.network.manager.flatdhcpmanager": "flatdhcp",
    "nova.network.manager.vlanmanager": "vlan",
  },
  firewall_driver: {
    "nova.virt.libvirt.firewall.iptablesfirewalldriver": "iptables",
    "nova.virt.firewall.iptablesfirewalldriver": "iptables",
    "nova.virt.firewall.noopfirewalldriver": "noop",
  },
};

function validate(spec: OptionSpec, raw: string): unknown {
  if (raw.trim() === "") return emptyValue(spec);
  const alias = NOVA_CLASSES[spec.key]?.[raw.trim().toLowerCase()];
  const r = v.safeParse(schemaFor(spec.type), alias ?? raw.trim());
  if (!r.success) throw new ConfigError(spec.key, raw, allowedText(spec.type));
  return r.output;
}

export interface LoadResult {
  config: Config;
  warnings: string[];
}

/** Parse INI text into a Config. Throws ConfigError on the first bad value. */
export function parseConfig(text: string): LoadResult {
  const ini = parseIni(text) as Record<string, unknown>;
  const sections: Record<string, Record<string, unknown>> = { DEFAULT: {}, cluster: {} };
  const warnings: string[] = [];
  for (const [k, val] of Object.entries(ini)) {
    if (val !== null && typeof val === "object") {
      if (k in sections) Object.assign(sections[k], val);
      else warnings.push(`config: unknown section [${k}] ignored`);
    } else {
      sections.DEFAULT[k] = val; // keys before any section header belong to DEFAULT
    }
  }
  const out: Record<string, unknown> = { cluster: {} };
  for (const [section, values] of Object.entries(sections)) {
    for (const key of Object.keys(values)) {
      if (!OPTIONS.some((o) => o.key === key && o.section === section))
        warnings.push(`config: unknown key ${key} in [${section}] ignored`);
    }
  }
  for (const spec of OPTIONS) {
    const given = sections[spec.section][spec.key];
    const raw = given === undefined ? spec.default : String(given);
    const value = validate(spec, raw);
    if (spec.section === "cluster") (out.cluster as Record<string, unknown>)[camel(spec.key)] = value;
    else out[camel(spec.key)] = value;
  }
  return { config: out as unknown as Config, warnings };
}

/** The built-in defaults (no file). */
export function defaultConfig(): Config {
  return parseConfig("").config;
}

/** Read and parse a config file; a missing file at the default path means "all defaults". */
export async function loadConfigFile(path: string, required: boolean): Promise<LoadResult> {
  const f = Bun.file(path);
  if (!(await f.exists())) {
    if (required) throw new ConfigError("--config", path, "file does not exist");
    return { config: defaultConfig(), warnings: [] };
  }
  return parseConfig(await f.text());
}
