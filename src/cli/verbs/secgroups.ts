/** secgroup-create|list|delete, secgroup-add-rule, secgroup-add-group-rule, secgroup-list-rules, secgroup-delete-rule. */
import type { SecurityGroup, SecurityGroupRule } from "../../model.ts";
import { table } from "../table.ts";
import { UsageError } from "../errors.ts";
import { intArg, print, strOpt, type Verb, type VerbContext } from "../verb.ts";

const project = { "project-id": { type: "string" as const, arg: "ID", help: "project (default admin)" } };
const egress = {
  egress: { type: "boolean" as const, help: "an egress rule (traffic leaving the instance) instead of ingress" },
};
const pid = (ctx: VerbContext) => strOpt(ctx, "project-id") ?? "admin";

function ports(proto: string, from: string, to: string): [number, number] {
  const icmp = proto.toLowerCase() === "icmp";
  return [intArg("FROM", from, icmp ? -1 : 1, icmp ? 255 : 65535), intArg("TO", to, icmp ? -1 : 1, icmp ? 255 : 65535)];
}

type RuleView = SecurityGroupRule & { sourceGroup: string | null };

/** nova add-secgroup / remove-secgroup SERVER GROUP. */
const instanceGroupVerb = (op: "add" | "remove"): Verb => ({
  name: `${op}-secgroup`,
  summary:
    op === "add"
      ? "Add a security group to an instance (its rules apply at once)."
      : "Remove a security group from an instance.",
  args: ["INSTANCE", "GROUP"],
  async run(ctx) {
    const [inst, group] = ctx.args;
    const path = `/v1/instances/${encodeURIComponent(inst)}/security-groups`;
    const r = await (op === "add"
      ? ctx.api.call<{ name: string; securityGroups: string[] }>("POST", path, { name: group })
      : ctx.api.call<{ name: string; securityGroups: string[] }>("DELETE", `${path}/${encodeURIComponent(group)}`));
    ctx.out(`instance ${r.name}: security groups ${r.securityGroups.join(", ") || "(none)"}`);
  },
});

export const secgroupVerbs: Verb[] = [
  instanceGroupVerb("add"),
  instanceGroupVerb("remove"),
  {
    name: "secgroup-create",
    summary: "Create a security group.",
    args: ["NAME", "DESCRIPTION?"],
    options: project,
    read: true,
    async run(ctx) {
      const g = await ctx.api.call<SecurityGroup>("POST", "/v1/secgroups", {
        name: ctx.args[0],
        description: ctx.args[1] ?? "",
        project_id: pid(ctx),
      });
      print(ctx, g, () => table(["Id", "Name", "Description"], [[g.id, g.name, g.description]]));
    },
  },
  {
    name: "secgroup-list",
    summary: "List security groups.",
    options: project,
    read: true,
    async run(ctx) {
      const gs = await ctx.api.call<SecurityGroup[]>("GET", `/v1/secgroups?project_id=${encodeURIComponent(pid(ctx))}`);
      print(ctx, gs, () =>
        table(
          ["Id", "Name", "Description"],
          gs.map((g) => [g.id, g.name, g.description]),
        ),
      );
    },
  },
  {
    name: "secgroup-delete",
    summary: "Delete a security group (refused while instances use it).",
    args: ["GROUP"],
    options: project,
    async run(ctx) {
      await ctx.api.call(
        "DELETE",
        `/v1/secgroups/${encodeURIComponent(ctx.args[0])}?project_id=${encodeURIComponent(pid(ctx))}`,
      );
      ctx.out(`deleted security group ${ctx.args[0]}`);
    },
  },
  {
    name: "secgroup-add-rule",
    summary: "Add a rule allowing PROTO (tcp, udp, icmp) ports FROM..TO (ICMP: type, code; -1 = any) from CIDR.",
    args: ["GROUP", "PROTO", "FROM", "TO", "CIDR"],
    options: { ...project, ...egress },
    read: true,
    async run(ctx) {
      const [group, proto, from, to, cidr] = ctx.args;
      const [f, t] = ports(proto, from, to);
      const r = await ctx.api.call<SecurityGroupRule>("POST", `/v1/secgroups/${encodeURIComponent(group)}/rules`, {
        direction: ctx.opts.egress ? "egress" : "ingress",
        ip_protocol: proto,
        from_port: f,
        to_port: t,
        cidr,
        project_id: pid(ctx),
      });
      print(ctx, r, () => rulesTable([{ ...r, sourceGroup: null }]));
    },
  },
  {
    name: "secgroup-add-group-rule",
    summary: "Add a rule allowing PROTO ports FROM..TO from members of SOURCE_GROUP.",
    args: ["GROUP", "SOURCE_GROUP", "PROTO", "FROM", "TO"],
    options: { ...project, ...egress },
    read: true,
    async run(ctx) {
      const [group, source, proto, from, to] = ctx.args;
      const [f, t] = ports(proto, from, to);
      const r = await ctx.api.call<SecurityGroupRule>("POST", `/v1/secgroups/${encodeURIComponent(group)}/rules`, {
        direction: ctx.opts.egress ? "egress" : "ingress",
        ip_protocol: proto,
        from_port: f,
        to_port: t,
        source_group: source,
        project_id: pid(ctx),
      });
      print(ctx, r, () => rulesTable([{ ...r, sourceGroup: source }]));
    },
  },
  {
    name: "secgroup-list-rules",
    summary: "List a group's rules.",
    args: ["GROUP"],
    options: project,
    read: true,
    async run(ctx) {
      const rs = await ctx.api.call<RuleView[]>(
        "GET",
        `/v1/secgroups/${encodeURIComponent(ctx.args[0])}/rules?project_id=${encodeURIComponent(pid(ctx))}`,
      );
      print(ctx, rs, () => rulesTable(rs));
    },
  },
  {
    name: "secgroup-delete-rule",
    summary:
      "Delete the rule matching PROTO FROM TO CIDR (or SOURCE_GROUP with --source-group), or the rule RULE_ID (its id in secgroup-list-rules).",
    args: ["GROUP", "PROTO|RULE_ID", "FROM?", "TO?", "CIDR?"],
    options: {
      ...project,
      ...egress,
      "source-group": { type: "string", arg: "GROUP", help: "match a group rule instead of a CIDR" },
    },
    async run(ctx) {
      const [group, proto, from, to, cidr] = ctx.args;
      if (ctx.args.length === 2) {
        await ctx.api.call(
          "DELETE",
          `/v1/secgroups/${encodeURIComponent(group)}/rules/${encodeURIComponent(proto)}?project_id=${encodeURIComponent(pid(ctx))}`,
        );
        return ctx.out("rule deleted");
      }
      if (to === undefined)
        throw new UsageError("secgroup-delete-rule: expected GROUP RULE_ID or GROUP PROTO FROM TO [CIDR]");
      const [f, t] = ports(proto, from, to);
      await ctx.api.call("POST", `/v1/secgroups/${encodeURIComponent(group)}/rules/delete`, {
        direction: ctx.opts.egress ? "egress" : "ingress",
        ip_protocol: proto,
        from_port: f,
        to_port: t,
        cidr: cidr ?? null,
        source_group: strOpt(ctx, "source-group"),
        project_id: pid(ctx),
      });
      ctx.out("rule deleted");
    },
  },
];

function rulesTable(rs: RuleView[]): string {
  return table(
    ["IP Protocol", "From Port", "To Port", "IP Range", "Source Group", "Direction"],
    rs.map((r) => [r.protocol, r.fromPort, r.toPort, r.cidr ?? "", r.sourceGroup ?? "", r.direction]),
  );
}
