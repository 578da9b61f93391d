/**
 * Validation of every row that arrives from a peer (valibot). A row that fails is quarantined
 * and counted, never applied: one poisonous record must not spread or wedge the agent. The
 * per-table shapes mirror src/model.ts without the version fields (those travel in the row).
 */
import ipaddr from "ipaddr.js";
import * as v from "valibot";
import { decodeHlc, encodeHlc } from "../../replication/hlc.ts";
import { ADMIN_TABLES, HOST_TABLES, type ReplicaRow, type ReplicaTable } from "../../replication/replica-store.ts";

const HLC_RE = /^\d{15}\.\d{5}$/;
const str = (max = 255) => v.pipe(v.string(), v.maxLength(max));
const id = v.pipe(v.string(), v.minLength(1), v.maxLength(128));
const nstr = (max = 255) => v.nullable(str(max));
const int = (min = 0, max = Number.MAX_SAFE_INTEGER) =>
  v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));
const ip = v.pipe(
  v.string(),
  v.maxLength(45),
  v.check((s) => ipaddr.isValid(s), "not an IP address"),
);
const nip = v.nullable(ip);
const cidr = v.pipe(
  v.string(),
  v.maxLength(49),
  v.check((s) => {
    try {
      ipaddr.parseCIDR(s);
      return true;
    } catch {
      return false;
    }
  }, "not a CIDR"),
);
const ncidr = v.nullable(cidr);
const mac = v.pipe(v.string(), v.regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/));

const network = v.object({
  id,
  label: str(),
  cidr: ncidr,
  cidrV6: ncidr,
  fixedCidr: ncidr,
  netmask: nip,
  broadcast: nip,
  gateway: nip,
  gatewayV6: nip,
  dhcpServer: nip,
  dhcpStart: nip,
  bridge: str(15),
  bridgeInterface: nstr(15),
  vlan: v.nullable(int(1, 4094)),
  vxlan: v.nullable(int(1, 16_777_215)),
  dns1: nip,
  dns2: nip,
  mtu: v.nullable(int(576, 65_535)),
  multiHost: v.boolean(),
  projectId: nstr(),
  enableDhcp: v.boolean(),
  shareAddress: v.boolean(),
  allowedStart: nip,
  allowedEnd: nip,
  vpnPrivateAddress: nip,
  priority: v.nullable(int()),
  createdAt: int(),
  // Peers older than network-associate-host send no host: their networks have none.
  host: v.optional(v.nullable(id), null),
});
const instance = v.object({
  uuid: id,
  name: str(),
  hostname: str(),
  host: id,
  projectId: str(),
  userId: str(),
  keyName: nstr(),
  keyData: nstr(16_384),
  /** base64 on the wire */
  userData: nstr(65_536 * 2),
  meta: v.record(str(255), str(255)),
  launchIndex: int(),
  availabilityZone: str(),
  flavor: str(),
  securityGroups: v.pipe(v.array(str()), v.maxLength(64)),
  reservationId: str(),
  password: nstr(),
  createdAt: int(),
});
const vif = v.object({
  id,
  mac,
  instanceUuid: id,
  networkId: id,
  address: nip,
  addressV6: nip,
  host: id,
  index: int(0, 64),
});
const lease = v.object({
  networkId: id,
  mac,
  address: ip,
  hostname: nstr(),
  clientId: nstr(),
  state: v.picklist(["offered", "leased", "released", "expired", "declined"]),
  expiresAt: int(),
  updatedAt: int(),
});
const host = v.object({ id, hostname: str(), address: ip, generation: int() });
const keypair = v.object({ name: str(), publicKey: str(16_384), fingerprint: str(), type: str(32) });
const securityGroup = v.object({ id, name: str(), description: str(), projectId: str() });
const port = int(0, 65_535);
const rule = v.object({
  id,
  groupId: id,
  direction: v.picklist(["ingress", "egress"]),
  ethertype: v.picklist(["IPv4", "IPv6"]),
  protocol: v.picklist(["tcp", "udp", "icmp", "any"]),
  fromPort: v.union([port, v.literal(-1)]),
  toPort: v.union([port, v.literal(-1)]),
  cidr: ncidr,
  sourceGroupId: v.nullable(id),
});
const floatingPool = v.object({ name: str(), cidr, interface: str(15) });
const floatingIp = v.object({
  address: ip,
  pool: str(),
  interface: str(15),
  projectId: nstr(),
  instanceUuid: v.nullable(id),
  fixedAddress: nip,
  fixedNetworkId: v.nullable(id),
  host: v.nullable(id),
  autoAssigned: v.boolean(),
});
/** One address handed out by a host from a block it owns. */
const ipAlloc = v.object({ networkId: id, address: ip, host: id, owner: nstr() });
/** A unique slot (an address block or a floating IP) held by `owner` at `epoch`. */
const ipamSlot = v.object({ slot: str(200), owner: id, epoch: int(1), released: v.boolean() });
const hostForgotten = v.object({ host: id, generation: int() });

const DATA: Record<ReplicaTable, v.GenericSchema> = {
  network,
  instance,
  vif,
  lease,
  host,
  keypair,
  security_group: securityGroup,
  security_group_rule: rule,
  floating_pool: floatingPool,
  floating_ip: floatingIp,
  ip_alloc: ipAlloc,
  ipam_slot: ipamSlot,
  host_forgotten: hostForgotten,
};

const envelope = v.object({
  table: v.picklist([...HOST_TABLES, ...ADMIN_TABLES]),
  key: v.pipe(v.string(), v.minLength(1), v.maxLength(256)),
  origin: id,
  hlc: v.pipe(v.string(), v.regex(HLC_RE)),
  deleted: v.boolean(),
  data: v.nullable(v.record(v.string(), v.unknown())),
});

/** Which field of a host-owned row names its single writer. */
const OWNER: Partial<Record<ReplicaTable, string>> = {
  instance: "host",
  vif: "host",
  host: "id",
  ip_alloc: "host",
  ipam_slot: "owner",
};

export type Verdict = { ok: true; row: ReplicaRow } | { ok: false; reason: string };

/** Validate a row as received; the returned row is a fresh copy with only known fields. */
/**
 * Rows travel as tuples `[table, key, origin, hlc, deleted (0/1), data]`: about a quarter
 * fewer bytes than the object form, which matters when every row is gossiped and repaired.
 */
export type WireRow = [string, string, string, string, 0 | 1, Record<string, unknown> | null];

export const toWire = (r: ReplicaRow): WireRow => [
  r.table,
  r.key,
  r.origin,
  hlcToWire(r.hlc),
  r.deleted ? 1 : 0,
  r.data,
];

/** Versions on the wire: base-36 milliseconds and counter ("mhzq5h0g.1"), half the length. */
const WIRE_HLC_RE = /^[0-9a-z]{1,10}\.[0-9a-z]{1,4}$/;
const MAX_MS = 10 ** 15 - 1;
const MAX_COUNTER = 10 ** 5 - 1;

/** With `base` (ms), the milliseconds are sent relative to it (marks messages: 3–4 digits). */
export function hlcToWire(hlc: string, base = 0): string {
  if (!HLC_RE.test(hlc)) return hlc;
  const [ms, counter] = hlc.split(".");
  return `${(Number(ms) - base).toString(36)}.${Number(counter).toString(36)}`;
}

/** A canonical version read from a message with base `base`: shifted back; null if out of range. */
export function rebaseHlc(hlc: string, base: number): string | null {
  if (hlc === "" || base === 0) return hlc;
  const h = decodeHlc(hlc);
  if (h.ms + base > MAX_MS) return null;
  return encodeHlc({ ms: h.ms + base, counter: h.counter });
}

/** The canonical (sortable) form of a wire version; "" stays ""; null when malformed. */
export function hlcFromWire(w: string): string | null {
  if (w === "" || HLC_RE.test(w)) return w;
  if (!WIRE_HLC_RE.test(w)) return null;
  const [a, b] = w.split(".");
  const ms = Number.parseInt(a, 36);
  const counter = Number.parseInt(b, 36);
  if (ms > MAX_MS || counter > MAX_COUNTER) return null;
  return encodeHlc({ ms, counter });
}

/** The object form of a wire row, for validation; anything else is returned as is (and fails it). */
export function fromWire(x: unknown): unknown {
  if (!Array.isArray(x) || x.length !== 6) return x;
  const [table, key, origin, hlc, deleted, data] = x;
  const canonical = typeof hlc === "string" ? (hlcFromWire(hlc) ?? hlc) : hlc;
  return { table, key, origin, hlc: canonical, deleted: deleted === 1 ? true : deleted === 0 ? false : deleted, data };
}

/** Validate a row in either form (wire tuple or object). */
export function validateRow(input: unknown): Verdict {
  const e = v.safeParse(envelope, fromWire(input));
  if (!e.success) return { ok: false, reason: `envelope: ${e.issues[0].message}` };
  const row = e.output as ReplicaRow;
  if (row.deleted) return row.data === null ? { ok: true, row } : { ok: false, reason: "tombstone with data" };
  if (row.data === null) return { ok: false, reason: "live row without data" };
  const d = v.safeParse(DATA[row.table], row.data);
  if (!d.success)
    return {
      ok: false,
      reason: `${row.table}: ${d.issues[0].path?.map((p) => String(p.key)).join(".") ?? ""} ${d.issues[0].message}`,
    };
  const data = d.output as Record<string, unknown>;
  // Single-writer rows: a host may only write its own namespace.
  const ownerField = OWNER[row.table];
  if (ownerField && data[ownerField] !== row.origin)
    return { ok: false, reason: `${row.table} written by ${row.origin} for ${String(data[ownerField])}` };
  return { ok: true, row: { ...row, data } };
}
