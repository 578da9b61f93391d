/** Security groups and rules with nova's validation (ports, ICMP type/code, CIDRs), plus egress. */
import ipaddr from "ipaddr.js";
import type { RuleDirection, RuleProtocol, SecurityGroup, SecurityGroupRule } from "../model.ts";
import type { Store } from "./db.ts";
import { conflict, invalid, notFound } from "../util/errors.ts";

type Row = Record<string, unknown>;

export function groupFromRow(r: Row): SecurityGroup {
  return {
    id: r.id as string,
    name: r.name as string,
    description: r.description as string,
    projectId: r.project_id as string,
    origin: r.origin as string,
    hlc: r.hlc as string,
    deleted: !!r.deleted,
  };
}

export function ruleFromRow(r: Row): SecurityGroupRule {
  return {
    id: r.id as string,
    groupId: r.group_id as string,
    direction: r.direction as RuleDirection,
    ethertype: r.ethertype as "IPv4" | "IPv6",
    protocol: r.protocol as RuleProtocol,
    fromPort: r.from_port as number,
    toPort: r.to_port as number,
    cidr: r.cidr as string | null,
    sourceGroupId: r.source_group_id as string | null,
    origin: r.origin as string,
    hlc: r.hlc as string,
    deleted: !!r.deleted,
  };
}

export function listSecurityGroups(store: Store, projectId?: string): SecurityGroup[] {
  const rows = projectId
    ? store.db
        .query<Row, [string]>("SELECT * FROM security_groups WHERE deleted = 0 AND project_id = ? ORDER BY name")
        .all(projectId)
    : store.db.query<Row, []>("SELECT * FROM security_groups WHERE deleted = 0 ORDER BY project_id, name").all();
  return rows.map(groupFromRow);
}

export function getSecurityGroupByName(
  store: Store,
  ref: string,
  projectId: string,
  field = "security_groups",
): SecurityGroup {
  const r = store.db
    .query<Row, [string, string, string]>(
      "SELECT * FROM security_groups WHERE deleted = 0 AND (id = ? OR (name = ? AND project_id = ?))",
    )
    .get(ref, ref, projectId);
  if (!r) throw notFound(`security group ${ref}`, field);
  return groupFromRow(r);
}

function insertGroup(
  store: Store,
  name: string,
  description: string,
  projectId: string,
  id: string = crypto.randomUUID(),
): SecurityGroup {
  const v = store.version();
  store.db
    .query(
      "INSERT INTO security_groups (id, name, description, project_id, origin, hlc, deleted) VALUES (?,?,?,?,?,?,0)",
    )
    .run(id, name, description, projectId, v.origin, v.hlc);
  store.changed("security_group", "put", id);
  return getSecurityGroupByName(store, id, projectId);
}

/**
 * Every project has its "default" group, as in nova, from the first command that names it or
 * lists the project's groups; it starts with no ingress rules.
 */
export function ensureDefaultGroup(store: Store, projectId: string): SecurityGroup {
  return store.write(() => {
    const r = store.db
      .query<Row, [string]>("SELECT * FROM security_groups WHERE deleted = 0 AND name = 'default' AND project_id = ?")
      .get(projectId);
    // A fixed id: every host of a cluster creates the same row, so replication merges them.
    return r ? groupFromRow(r) : insertGroup(store, "default", "default", projectId, `default-${projectId}`);
  });
}

/** A group by id or name; "default" exists for every project (inside a write: creating it is part of the command). */
export function resolveGroup(store: Store, ref: string, projectId: string, field = "security_groups"): SecurityGroup {
  return ref === "default"
    ? ensureDefaultGroup(store, projectId)
    : getSecurityGroupByName(store, ref, projectId, field);
}

export function createSecurityGroup(store: Store, name: string, description: string, projectId: string): SecurityGroup {
  if (!/^[\x20-\x7e]{1,255}$/.test(name)) throw invalid("group name must be 1 to 255 printable characters", "name");
  if (description.length > 255) throw invalid("description must be at most 255 characters", "description");
  return store.write(() => {
    if (
      store.db
        .query("SELECT 1 FROM security_groups WHERE deleted = 0 AND name = ? AND project_id = ?")
        .get(name, projectId)
    ) {
      throw conflict(`security group ${name} already exists`, "name");
    }
    return insertGroup(store, name, description, projectId);
  });
}

export function deleteSecurityGroup(
  store: Store,
  ref: string,
  projectId: string,
  opts: { force?: boolean } = {},
): SecurityGroup {
  return store.write(() => {
    const g = resolveGroup(store, ref, projectId, "group");
    if (g.name === "default" && !opts.force) throw invalid("the default security group cannot be deleted", "group");
    const users = store.db
      .query<{ name: string }, [string, string]>(
        "SELECT name FROM instances WHERE deleted = 0 AND project_id = ? AND EXISTS (SELECT 1 FROM json_each(security_groups) WHERE value = ?)",
      )
      .all(g.projectId, g.name);
    if (users.length && !opts.force)
      throw conflict(`security group ${g.name} is in use by ${users.map((u) => u.name).join(", ")}`, "group");
    const v = store.version();
    store.db
      .query("UPDATE security_groups SET deleted = 1, origin = ?, hlc = ? WHERE id = ?")
      .run(v.origin, v.hlc, g.id);
    for (const r of listRules(store, g.id)) removeRule(store, r.id);
    store.changed("security_group", "delete", g.id);
    return g;
  });
}

export interface RuleInput {
  direction: RuleDirection;
  protocol: string;
  fromPort: number;
  toPort: number;
  cidr: string | null;
  sourceGroup: string | null;
}

function validateRule(r: RuleInput): { protocol: RuleProtocol; ethertype: "IPv4" | "IPv6"; cidr: string | null } {
  const protocol = r.protocol.toLowerCase();
  if (!["tcp", "udp", "icmp"].includes(protocol))
    throw invalid(`protocol ${r.protocol} is not allowed: use tcp, udp or icmp`, "ip_protocol");
  if (!Number.isInteger(r.fromPort) || !Number.isInteger(r.toPort))
    throw invalid("ports must be integers", "from_port");
  if (protocol === "icmp") {
    if (r.fromPort < -1 || r.fromPort > 255)
      throw invalid(`ICMP type ${r.fromPort} is out of range -1..255`, "from_port");
    if (r.toPort < -1 || r.toPort > 255) throw invalid(`ICMP code ${r.toPort} is out of range -1..255`, "to_port");
  } else {
    if (r.fromPort < 1 || r.fromPort > 65535) throw invalid(`port ${r.fromPort} is out of range 1..65535`, "from_port");
    if (r.toPort < 1 || r.toPort > 65535) throw invalid(`port ${r.toPort} is out of range 1..65535`, "to_port");
    if (r.fromPort > r.toPort)
      throw invalid(`from port ${r.fromPort} is greater than to port ${r.toPort}`, "from_port");
  }
  let cidr: string | null = null;
  let ethertype: "IPv4" | "IPv6" = "IPv4";
  if (r.cidr !== null) {
    try {
      const [a, len] = ipaddr.parseCIDR(r.cidr);
      cidr = `${a.toString()}/${len}`;
      ethertype = a.kind() === "ipv6" ? "IPv6" : "IPv4";
    } catch {
      throw invalid(`cidr ${r.cidr} is not a CIDR (expected e.g. 0.0.0.0/0 or ::/0)`, "cidr");
    }
  }
  return { protocol: protocol as RuleProtocol, ethertype, cidr };
}

export function listRules(store: Store, groupId: string): SecurityGroupRule[] {
  return store.db
    .query<Row, [string]>(
      "SELECT * FROM security_group_rules WHERE deleted = 0 AND group_id = ? ORDER BY direction, protocol, from_port",
    )
    .all(groupId)
    .map(ruleFromRow);
}

export function addRule(store: Store, groupRef: string, projectId: string, input: RuleInput): SecurityGroupRule {
  const { protocol, ethertype, cidr } = validateRule(input);
  return store.write(() => {
    const g = resolveGroup(store, groupRef, projectId, "group");
    const src = input.sourceGroup ? resolveGroup(store, input.sourceGroup, projectId, "source_group") : null;
    const finalCidr = src ? null : (cidr ?? (ethertype === "IPv6" ? "::/0" : "0.0.0.0/0"));
    const dup = listRules(store, g.id).find(
      (r) =>
        r.direction === input.direction &&
        r.protocol === protocol &&
        r.fromPort === input.fromPort &&
        r.toPort === input.toPort &&
        r.cidr === finalCidr &&
        r.sourceGroupId === (src?.id ?? null),
    );
    if (dup) throw conflict("this rule already exists in the group", "rule");
    const id = crypto.randomUUID();
    const v = store.version();
    store.db
      .query(`INSERT INTO security_group_rules (id, group_id, direction, ethertype, protocol, from_port, to_port, cidr, source_group_id, origin, hlc, deleted)
      VALUES (?,?,?,?,?,?,?,?,?,?,?,0)`)
      .run(
        id,
        g.id,
        input.direction,
        ethertype,
        protocol,
        input.fromPort,
        input.toPort,
        finalCidr,
        src?.id ?? null,
        v.origin,
        v.hlc,
      );
    store.changed("security_group_rule", "put", id);
    return ruleFromRow(store.db.query<Row, [string]>("SELECT * FROM security_group_rules WHERE id = ?").get(id)!);
  });
}

function removeRule(store: Store, id: string): void {
  const v = store.version();
  store.db
    .query("UPDATE security_group_rules SET deleted = 1, origin = ?, hlc = ? WHERE id = ?")
    .run(v.origin, v.hlc, id);
  store.changed("security_group_rule", "delete", id);
}

/** Delete the rule matching the given fields (nova's secgroup-delete-rule), or by id. */
export function deleteRule(
  store: Store,
  groupRef: string,
  projectId: string,
  match: Partial<RuleInput> & { id?: string },
): SecurityGroupRule {
  return store.write(() => {
    const g = resolveGroup(store, groupRef, projectId, "group");
    const src = match.sourceGroup ? resolveGroup(store, match.sourceGroup, projectId, "source_group") : null;
    const norm = match.cidr
      ? validateRule({
          direction: "ingress",
          protocol: match.protocol ?? "tcp",
          fromPort: match.fromPort ?? 1,
          toPort: match.toPort ?? 1,
          cidr: match.cidr,
          sourceGroup: null,
        }).cidr
      : undefined;
    const rule = listRules(store, g.id).find((r) =>
      match.id
        ? r.id === match.id
        : (match.direction ?? "ingress") === r.direction &&
          r.protocol === match.protocol?.toLowerCase() &&
          r.fromPort === match.fromPort &&
          r.toPort === match.toPort &&
          (src ? r.sourceGroupId === src.id : r.cidr === norm),
    );
    if (!rule) throw notFound("matching rule", "rule");
    removeRule(store, rule.id);
    return rule;
  });
}
