/** agent, status, config sample|check, project scrub, dhcp leases. */
import type { Lease, Network } from "../../model.ts";
import { DEFAULT_CONFIG, loadConfigFile } from "../../config/load.ts";
import { configSample } from "../../config/sample.ts";
import { AgentConflict } from "../../sys/agent-lock.ts";
import { RuntimeError, UsageError } from "../errors.ts";
import { table } from "../table.ts";
import { print, strOpt, type Verb, type VerbContext } from "../verb.ts";

export { DEFAULT_CONFIG };

/** `netlet agent --shutdown`: ask the running agent to withdraw and exit, and wait until its socket is gone. */
export async function shutdownAgent(ctx: VerbContext): Promise<void> {
  await ctx.api.call("POST", "/v1/agent/shutdown");
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (!(await Bun.file(ctx.socket).exists())) {
      ctx.out("agent stopped; its networks' routers were withdrawn (router lifetime 0)");
      return;
    }
    await Bun.sleep(100);
  }
  throw new RuntimeError(`the agent on ${ctx.socket} did not stop within 15 s`);
}

export const miscVerbs: Verb[] = [
  {
    name: "agent",
    summary: "Run the netlet daemon (DHCP, RA, metadata, dataplane, gossip) in the foreground.",
    options: {
      "log-format": { type: "string", arg: "logfmt|json", help: "log line format on stderr (default logfmt)" },
      shutdown: {
        type: "boolean",
        help: "tell the running agent to stop serving for good: final router advertisements withdraw its IPv6 routes, then it exits (a plain SIGTERM, as a restart sends, keeps them)",
      },
    },
    async run(ctx) {
      if (ctx.opts.shutdown) return shutdownAgent(ctx);
      const format = strOpt(ctx, "log-format") ?? "logfmt";
      if (format !== "logfmt" && format !== "json")
        throw new UsageError(`--log-format ${format}: expected logfmt or json`);
      if (!ctx.host) throw new RuntimeError("this build of netlet cannot run the agent");
      await ctx.host.runDaemon({ configPath: ctx.configPath, socket: ctx.socket, logFormat: format });
    },
  },
  {
    name: "status",
    summary: "One screen: this node, its peers, served networks, instances, last dataplane apply, alarms.",
    read: true,
    async run(ctx) {
      const st = await ctx.api.call<StatusJson>("GET", "/v1/status");
      print(ctx, st, () => statusScreen(st));
    },
  },
  {
    name: "config sample",
    summary: "Print an annotated configuration file with every option and its default.",
    async run(ctx) {
      ctx.out(configSample());
    },
  },
  {
    name: "config check",
    summary: "Validate a configuration file (--config) and print the warnings.",
    async run(ctx) {
      const { warnings } = await loadConfigFile(ctx.configPath ?? DEFAULT_CONFIG, true);
      ctx.out([...warnings, `${ctx.configPath ?? DEFAULT_CONFIG}: ok`].join("\n"));
    },
  },
  {
    name: "project scrub",
    summary: "Disassociate the project's networks and delete its security groups.",
    options: { project: { type: "string", arg: "ID", help: "the project" } },
    read: true,
    async run(ctx) {
      const p = strOpt(ctx, "project");
      if (!p) throw new UsageError("project scrub: --project ID is required");
      const r = await ctx.api.call<{ networks: string[]; security_groups: string[] }>(
        "POST",
        `/v1/projects/${encodeURIComponent(p)}/scrub`,
      );
      print(
        ctx,
        r,
        () =>
          `project ${p}: disassociated networks [${r.networks.join(", ")}], deleted security groups [${r.security_groups.join(", ")}]`,
      );
    },
  },
  {
    name: "dhcp leases",
    summary: "List DHCP leases.",
    options: { network: { type: "string", arg: "NETWORK", help: "only this network" } },
    read: true,
    async run(ctx) {
      const n = strOpt(ctx, "network");
      const leases = await ctx.api.call<Lease[]>("GET", `/v1/leases${n ? `?network=${encodeURIComponent(n)}` : ""}`);
      const nets = new Map((await ctx.api.call<Network[]>("GET", "/v1/networks")).map((x) => [x.id, x.label]));
      print(ctx, leases, () =>
        table(
          ["network", "MAC", "address", "hostname", "state", "expires"],
          leases.map((l) => [
            nets.get(l.networkId) ?? l.networkId,
            l.mac,
            l.address,
            l.hostname,
            l.state,
            new Date(l.expiresAt).toISOString(),
          ]),
        ),
      );
    },
  },
];

interface ShownDataplane {
  driver: string;
  snat: string;
  instances: {
    name: string;
    uuid: string;
    vifs: { mac: string; port: string | null; ipv4: string | null; ipv6: string | null; antiSpoofing: string }[];
    groups: { name: string; ingress: string[]; egress: string[] }[];
    floatingIps: { address: string }[];
    chains: string[];
  }[];
  drops?: Record<string, number>;
}

export const dataplaneVerbs: Verb[] = [
  {
    name: "dataplane flush",
    summary:
      "Remove every nft table, iptables chain, address, device and bridge netlet added to this host (the agent must be stopped).",
    async run(ctx) {
      const path = ctx.configPath ?? DEFAULT_CONFIG;
      const { config } = await loadConfigFile(path, ctx.configPath !== null);
      if (!ctx.host) throw new RuntimeError("this build of netlet cannot flush the dataplane");
      const r = await ctx.host
        .flushDataplane(config.statePath, (line) => ctx.out(line))
        .catch((err) => {
          if (err instanceof AgentConflict)
            throw new RuntimeError(
              `${err.message.replace(/: stop it first.*$/, "")}: stop it first (systemctl stop netlet); a running agent would program everything again`,
            );
          throw err;
        });
      ctx.out(`dataplane flush: ${r.ran.length} removed, ${r.failed.length} failed`);
      if (r.failed.length) throw new RuntimeError(`dataplane flush: ${r.failed.length} step(s) failed: ${r.failed[0]}`);
    },
  },
  {
    name: "dataplane show",
    summary: "What the dataplane programs for each local instance (ports, anti-spoofing, rules, floating IPs).",
    read: true,
    async run(ctx) {
      const d = await ctx.api.call<ShownDataplane | null>("GET", "/v1/dataplane");
      print(ctx, d, () => {
        if (!d) return "nothing applied yet";
        const rows = d.instances.flatMap((i) =>
          i.vifs.map((v) => [
            i.name,
            v.mac,
            v.port,
            v.ipv4,
            v.ipv6,
            v.antiSpoofing,
            i.groups
              .map(
                (g) =>
                  `${g.name}: ${[...g.ingress.map((r) => `in ${r}`), ...g.egress.map((r) => `out ${r}`)].join("; ") || "(no rules)"}`,
              )
              .join(" | "),
            i.floatingIps.map((f) => f.address),
          ]),
        );
        const drops =
          Object.entries(d.drops ?? {})
            .filter(([, n]) => n > 0)
            .map(([k, n]) => `${k} ${n}`)
            .join(", ") || "none";
        return (
          `driver ${d.driver}, SNAT: ${d.snat}\n${table(["instance", "MAC", "port", "IPv4", "IPv6", "anti-spoofing", "security groups", "floating"], rows)}\n` +
          `drops by reason: ${drops}`
        );
      });
    },
  },
];

interface StatusJson {
  node: { id: string; address: string; version: string; uptimeS: number };
  peers: { id: string; address: string; state: string }[] | null;
  voters: string[] | null;
  networks: {
    label: string;
    cidr: string | null;
    cidrV6: string | null;
    bridge: string;
    hostAddress: string | null;
    dhcp: string;
    ra: string;
  }[];
  bridged?: { label: string; bridge: string; servedBy: string | null; serverAddress: string | null }[];
  instances: {
    name: string;
    mac: string;
    fixedIp: string | null;
    ipv6: string | null;
    lease: string;
    floating: string[];
    metadataLastSeen: number | null;
  }[];
  dataplane: { driver: string; lastApply: { kind: string; ms: number; at: number } | null };
  dns?: { address: string; bridge: string; state: string }[] | string;
  alarms: string[];
}

const ago = (t: number | null) => (t === null ? "never" : `${Math.max(0, Math.round((Date.now() - t) / 1000))} s ago`);

function statusScreen(st: StatusJson): string {
  const peers =
    st.peers === null
      ? "peers: none (standalone: no cluster key)"
      : `${table(
          ["peer", "address", "state"],
          st.peers.map((p) => [p.id, p.address, p.state]),
        )}\nIPAM voters: ${st.voters?.join(", ") || "none yet"}`;
  const apply = st.dataplane.lastApply;
  return [
    `node ${st.node.id} (${st.node.address}), netlet ${st.node.version}, up ${st.node.uptimeS} s`,
    peers,
    "networks served by this host:",
    table(
      ["network", "IPv4", "IPv6", "bridge", "host address", "DHCP", "RA"],
      st.networks.map((n) => [n.label, n.cidr, n.cidrV6, n.bridge, n.hostAddress, n.dhcp, n.ra]),
    ),
    ...(st.bridged?.length
      ? [
          "networks bridged only (served by their associated host):",
          table(
            ["network", "bridge", "served by", "at"],
            st.bridged.map((b) => [b.label, b.bridge, b.servedBy, b.serverAddress]),
          ),
        ]
      : []),
    "instances on this host:",
    table(
      ["instance", "MAC", "fixed IP", "IPv6", "lease", "floating IP", "metadata last seen"],
      st.instances.map((i) => [i.name, i.mac, i.fixedIp, i.ipv6, i.lease, i.floating, ago(i.metadataLastSeen)]),
    ),
    `dns: ${typeof st.dns === "string" ? st.dns : st.dns?.length ? st.dns.map((l) => `${l.address} (${l.bridge}) ${l.state}`).join(", ") : "no served network"}`,
    `dataplane (${st.dataplane.driver}): ${apply ? `last apply ${apply.kind} in ${apply.ms} ms, ${ago(apply.at)}` : "not applied yet"}`,
    `alarms: ${st.alarms.length ? st.alarms.join("; ") : "none"}`,
  ].join("\n");
}
