/**
 * How each replicated record maps between the cluster's wire form (the model record without its
 * version, src/cluster/sync/schema.ts) and this store's typed tables. Records of the cluster's
 * own bookkeeping (IPAM slots and allocations, floating pools, forgotten hosts) and tombstones of
 * rows never seen here live in the generic `replica_extra` table.
 */
import { type Entity, leaseKey } from "../model.ts";
import { ip4ToNum } from "../net/ip.ts";
import { networkFromRow } from "./networks.ts";
import { instanceFromRow, vifFromRow } from "./instances.ts";
import { leaseFromRow } from "./leases.ts";
import { hostFromRow } from "./hosts.ts";
import { keypairFromRow } from "./keypairs.ts";
import { groupFromRow, ruleFromRow } from "./secgroups.ts";
import { floatingFromRow } from "./floating.ts";

type Row = Record<string, unknown>;
type Data = Record<string, unknown>;

export interface TypedTable {
  /** SQL table name. */
  sql: string;
  /** The change-event entity. */
  entity: Entity;
  /** SQL condition selecting one row by the replica key, and its arguments. */
  where: string;
  keyArgs(key: string): unknown[];
  keyOf(data: Data): string;
  toData(row: Row): Data;
  /** Column values for an INSERT OR REPLACE (version columns are added by the caller). */
  columns(data: Data): Data;
}

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const VERSION = new Set(["origin", "hlc", "deleted"]);

function strip(model: object): Data {
  return Object.fromEntries(Object.entries(model).filter(([k]) => !VERSION.has(k)));
}

/** camelCase record → snake_case columns; booleans become 0/1. */
function plainColumns(data: Data, rename: Record<string, string> = {}): Data {
  const out: Data = {};
  for (const [k, v] of Object.entries(data)) out[rename[k] ?? snake(k)] = typeof v === "boolean" ? (v ? 1 : 0) : v;
  return out;
}

const byId = (sql: string, entity: Entity, from: (r: Row) => object, idField = "id", column = "id"): TypedTable => ({
  sql,
  entity,
  where: `${column} = ?`,
  keyArgs: (k) => [k],
  keyOf: (d) => String(d[idField]),
  toData: (r) => strip(from(r)),
  columns: (d) => plainColumns(d),
});

export const TYPED: Record<string, TypedTable> = {
  network: byId("networks", "network", networkFromRow),
  security_group: byId("security_groups", "security_group", groupFromRow),
  security_group_rule: byId("security_group_rules", "security_group_rule", ruleFromRow),
  host: byId("hosts", "host", hostFromRow),
  keypair: byId("keypairs", "keypair", keypairFromRow, "name", "name"),
  vif: {
    ...byId("vifs", "vif", vifFromRow),
    columns: (d) => plainColumns(d, { index: "idx" }),
  },
  instance: {
    ...byId("instances", "instance", instanceFromRow, "uuid", "uuid"),
    // User data (up to 64 KiB), the key text and the metadata password stay on the instance's
    // host, which alone serves its metadata: a gossiped row must fit one datagram, and peers
    // need the rest (name, host, project, groups) for listings and security-group membership.
    toData: (r) => ({ ...strip(instanceFromRow(r)), userData: null, keyData: null, password: null }),
    columns: (d) =>
      plainColumns({
        ...d,
        userData: d.userData ? Buffer.from(String(d.userData), "base64") : null,
        meta: JSON.stringify(d.meta ?? {}),
        securityGroups: JSON.stringify(d.securityGroups ?? []),
      }),
  },
  lease: {
    sql: "leases",
    entity: "lease",
    where: "network_id = ? AND mac = ?",
    keyArgs: (k) => k.split("/"),
    keyOf: (d) => leaseKey(String(d.networkId), String(d.mac)),
    toData: (r) => strip(leaseFromRow(r)),
    columns: (d) => plainColumns(d),
  },
  floating_ip: {
    ...byId("floating_ips", "floating_ip", floatingFromRow, "address", "address"),
    columns: (d) => ({ ...plainColumns(d), address_num: ip4ToNum(String(d.address)) }),
  },
};
