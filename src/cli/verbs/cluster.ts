/** members, cluster join|leave|keygen, cluster key install|use|remove|list, host forget. */
import { keygen } from "../../cluster/keyring.ts";
import { UsageError } from "../errors.ts";
import { table } from "../table.ts";
import { print, type Verb } from "../verb.ts";

interface Member {
  id: string;
  addr: string;
  state: string;
  incarnation: number;
  generation: number;
  since: number;
  rttMs: number | null;
}

const keyVerb = (op: "install" | "use" | "remove", summary: string): Verb => ({
  name: `cluster key ${op}`,
  summary,
  args: ["KEY"],
  async run(ctx) {
    const keys = await ctx.api.call<{ id: number; primary: boolean }[]>("POST", "/v1/cluster/keys", {
      op,
      key: ctx.args[0],
    });
    ctx.out(`key ${op} done; ${keys.length} key(s), primary id ${keys.find((k) => k.primary)?.id}`);
  },
});

export const clusterVerbs: Verb[] = [
  {
    name: "service-list",
    summary: "nova's service-list: one netlet service per host, with its state (members, in nova's columns).",
    read: true,
    async run(ctx) {
      // A standalone host is a cluster of one: itself, up, since the agent started.
      const ms = await ctx.api.call<Member[]>("GET", "/v1/members").catch(async (err) => {
        if (!/runs standalone/.test((err as Error).message)) throw err;
        const st = await ctx.api.call<{ node: { id: string; address: string; uptimeS: number } }>("GET", "/v1/status");
        return [
          {
            id: st.node.id,
            addr: st.node.address ?? "-",
            state: "alive",
            incarnation: 0,
            generation: 0,
            since: Date.now() - (st.node.uptimeS ?? 0) * 1000,
            rttMs: null,
          },
        ];
      });
      const rows = ms.map((m) => ({
        binary: "netlet",
        host: m.id,
        zone: "nova",
        status: "enabled",
        state: m.state === "alive" ? "up" : "down",
        updated_at: m.since ? new Date(m.since).toISOString() : null,
      }));
      print(ctx, rows, () =>
        table(
          ["Binary", "Host", "Zone", "Status", "State", "Updated_at"],
          rows.map((r) => [r.binary, r.host, r.zone, r.status, r.state, r.updated_at ?? "-"]),
        ),
      );
    },
  },
  {
    name: "members",
    summary: "Cluster members: id, address, state, incarnation, last state change, RTT.",
    read: true,
    async run(ctx) {
      const ms = await ctx.api.call<Member[]>("GET", "/v1/members");
      const twins = await ctx.api.call<{ addr: string; since: number }[]>("GET", "/v1/cluster/namesakes");
      const self = ms[0]?.id ?? "?";
      print(ctx, ms, () =>
        [
          table(
            ["id", "address", "state", "incarnation", "generation", "last change", "RTT ms"],
            ms.map((m) => [
              m.id,
              m.addr,
              m.state,
              m.incarnation,
              m.generation,
              m.since ? new Date(m.since).toISOString() : "-",
              m.rttMs === null ? "" : m.rttMs.toFixed(2),
            ]),
          ),
          ...twins.map(
            (t) =>
              `CONFLICT: the host at ${t.addr} also uses the node name ${self}; the two cannot converge until one is renamed (host = … in netlet.conf)`,
          ),
        ].join("\n"),
      );
    },
  },
  {
    name: "cluster join",
    summary: "Join the cluster through any member's gossip address (host:port).",
    args: ["ADDR..."],
    async run(ctx) {
      if (!ctx.args.length) throw new UsageError("cluster join: missing ADDR (host:port of any member)");
      await ctx.api.call("POST", "/v1/cluster/join", { addrs: ctx.args });
      ctx.out(`joining through ${ctx.args.join(", ")}`);
    },
  },
  {
    name: "cluster leave",
    summary: "Leave the cluster gracefully (peers mark this node left, not dead).",
    async run(ctx) {
      await ctx.api.call("POST", "/v1/cluster/leave");
      ctx.out("left the cluster");
    },
  },
  {
    name: "cluster keygen",
    summary: "Print a new random cluster key (base64, AES-256).",
    async run(ctx) {
      ctx.out(keygen());
    },
  },
  keyVerb("install", "Install KEY on every member (it decrypts at once; encrypts after `use`)."),
  keyVerb("use", "Make KEY the primary (encrypting) key on every member."),
  keyVerb("remove", "Remove KEY; it still decrypts for a grace window so offline nodes can rejoin."),
  {
    name: "cluster key list",
    summary: "List installed keys (ids only; keys never leave the node through the API).",
    read: true,
    async run(ctx) {
      const keys = await ctx.api.call<{ id: number; primary: boolean; retireAt: number | null }[]>(
        "GET",
        "/v1/cluster/keys",
      );
      print(ctx, keys, () =>
        table(
          ["key id", "primary", "retires"],
          keys.map((k) => [k.id, k.primary, k.retireAt ? new Date(k.retireAt).toISOString() : ""]),
        ),
      );
    },
  },
  {
    name: "host forget",
    summary:
      "Declare a dead host gone for good: its address blocks and floating IPs can be reclaimed (refused while it is reachable).",
    args: ["HOST"],
    async run(ctx) {
      await ctx.api.call("POST", `/v1/hosts/${encodeURIComponent(ctx.args[0])}/forget`);
      ctx.out(`forgot host ${ctx.args[0]}`);
    },
  },
];
