/** boot, list, show, delete and keypair-add|list|delete. */
import { readFileSync } from "node:fs";
import type { Keypair } from "../../model.ts";
import { UsageError } from "../errors.ts";
import { propertyTable, table } from "../table.ts";
import { listOpt, print, strOpt, type Verb, type VerbContext } from "../verb.ts";

interface Port {
  mac: string;
  network: string;
  address: string | null;
  addressV6: string | null;
  lease: string | null;
  port: string | null;
}
interface InstanceJson {
  uuid: string;
  name: string;
  host: string;
  ports: Port[];
  floatingIps: string[];
  [k: string]: unknown;
}

const s = (help: string, arg = "VALUE", multiple = false) => ({ type: "string" as const, help, arg, multiple });

function readFileArg(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(
      `${what} ${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

function parseMeta(ctx: VerbContext): Record<string, string> {
  const meta: Record<string, string> = {};
  const raw = ctx.opts.meta;
  for (const kv of Array.isArray(raw) ? raw : raw ? [String(raw)] : []) {
    const i = kv.indexOf("=");
    if (i < 1) throw new UsageError(`--meta ${kv}: expected KEY=VALUE`);
    meta[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return meta;
}

/**
 * nova's `--nic net-id=NET[,v4-fixed-ip=IP]` (one per port, in order) → networks and fixed IPs
 * as the API takes them (an empty fixed IP: any free one).
 */
export function parseNics(specs: string[]): { networks: string[]; fixedIps: string[] } {
  const networks: string[] = [];
  const fixedIps: string[] = [];
  for (const spec of specs) {
    const kv = new Map<string, string>();
    for (const part of spec.split(",")) {
      const i = part.indexOf("=");
      const key = i < 0 ? part : part.slice(0, i);
      if (!["net-id", "net-name", "v4-fixed-ip"].includes(key) || i < 1 || i === part.length - 1) {
        throw new UsageError(
          `--nic ${spec}: expected net-id=NETWORK or net-name=NETWORK, optionally ,v4-fixed-ip=IP (IPv6 addresses are EUI-64, not chosen)`,
        );
      }
      kv.set(key, part.slice(i + 1));
    }
    const net = kv.get("net-id") ?? kv.get("net-name");
    if (!net) throw new UsageError(`--nic ${spec}: net-id=NETWORK is required`);
    networks.push(net);
    fixedIps.push(kv.get("v4-fixed-ip") ?? "");
  }
  return { networks, fixedIps: fixedIps.some(Boolean) ? fixedIps : [] };
}

const attach = (
  ctx: VerbContext,
  inst: string,
  body: { network: string; fixed_ip: string | null; mac: string | null },
) => ctx.api.call<InstanceJson>("POST", `/v1/instances/${encodeURIComponent(inst)}/interfaces`, body);
/** A port is named by its MAC or its fixed IP. */
const detach = (ctx: VerbContext, inst: string, port: string) =>
  ctx.api.call<InstanceJson>(
    "POST",
    `/v1/instances/${encodeURIComponent(inst)}/interfaces/detach`,
    port.includes(":") && /^[0-9a-f:]{17}$/i.test(port) ? { mac: port } : { address: port },
  );

const networksOf = (i: InstanceJson) =>
  i.ports.map((p) => `${p.network}=${[p.address, p.addressV6].filter(Boolean).join(", ")}`).join("; ");

export const instanceVerbs: Verb[] = [
  {
    name: "boot",
    summary: "Register an instance on this host and allocate its ports (MAC, fixed IP, IPv6).",
    args: ["NAME"],
    options: {
      network: s("network label or id (default: every network visible to the project)", "NETWORK", true),
      mac: s("MAC of the port on the matching --network", "MAC", true),
      "fixed-ip": s("specific fixed IP on the matching --network", "IP", true),
      port: s(
        "host-side interface (tap, vnet, veth) of the matching --network's VIF; only a plugged VIF passes traffic",
        "IFNAME",
        true,
      ),
      nic: s(
        "nova's NIC spec: net-id=NETWORK[,v4-fixed-ip=IP], one per port (instead of --network/--fixed-ip)",
        "SPEC",
        true,
      ),
      "key-name": s("keypair injected through metadata", "NAME"),
      "user-data": s("file served as user-data (at most 64 KiB)", "FILE"),
      meta: s("metadata key=value", "KEY=VALUE", true),
      "security-groups": s("comma-separated groups (default: default)", "GROUPS"),
      "availability-zone": s("availability zone (default nova)", "AZ"),
      flavor: s("flavor name (default m1.small)", "NAME"),
      "project-id": s("project (default admin)", "ID"),
    },
    read: true,
    async run(ctx) {
      const ud = strOpt(ctx, "user-data");
      const rawNics =
        ctx.opts.nic === undefined ? [] : Array.isArray(ctx.opts.nic) ? ctx.opts.nic : [String(ctx.opts.nic)];
      if (rawNics.length && (ctx.opts.network !== undefined || ctx.opts["fixed-ip"] !== undefined)) {
        throw new UsageError("boot: --nic replaces --network and --fixed-ip; give one or the other");
      }
      const nics = rawNics.length
        ? parseNics(rawNics)
        : { networks: listOpt(ctx, "network"), fixedIps: listOpt(ctx, "fixed-ip") };
      const body = {
        name: ctx.args[0],
        networks: nics.networks,
        macs: listOpt(ctx, "mac"),
        fixed_ips: nics.fixedIps,
        ports: listOpt(ctx, "port"),
        key_name: strOpt(ctx, "key-name"),
        user_data: ud ? readFileArg(ud, "--user-data").toString("base64") : null,
        meta: parseMeta(ctx),
        security_groups: listOpt(ctx, "security-groups"),
        availability_zone: strOpt(ctx, "availability-zone") ?? undefined,
        flavor: strOpt(ctx, "flavor") ?? undefined,
        project_id: strOpt(ctx, "project-id") ?? undefined,
      };
      const inst = await ctx.api.call<InstanceJson>("POST", "/v1/instances", body);
      print(ctx, inst, () => instanceProps(inst));
    },
  },
  {
    name: "list",
    summary: "List instances.",
    options: { host: s("only instances of this host", "HOST") },
    read: true,
    async run(ctx) {
      const q = strOpt(ctx, "host") ? `?host=${encodeURIComponent(strOpt(ctx, "host")!)}` : "";
      const list = await ctx.api.call<InstanceJson[]>("GET", `/v1/instances${q}`);
      print(ctx, list, () =>
        table(
          ["ID", "Name", "Host", "Networks", "Floating IPs", "Lease"],
          list.map((i) => [
            i.uuid,
            i.name,
            i.host,
            networksOf(i),
            i.floatingIps,
            i.ports.map((p) => p.lease ?? "-").join(", "),
          ]),
        ),
      );
    },
  },
  {
    name: "show",
    summary: "Show an instance (by name or uuid).",
    args: ["INSTANCE"],
    read: true,
    async run(ctx) {
      const inst = await ctx.api.call<InstanceJson>("GET", `/v1/instances/${encodeURIComponent(ctx.args[0])}`);
      print(ctx, inst, () => instanceProps(inst));
    },
  },
  {
    name: "interface-attach",
    summary: "Add a port on a network to a booted instance (nova interface-attach): MAC, fixed IP, IPv6.",
    args: ["INSTANCE"],
    options: {
      "net-id": s("network label or id", "NETWORK"),
      "fixed-ip": s("a specific fixed IP on it", "IP"),
      mac: s("a specific MAC", "MAC"),
    },
    read: true,
    async run(ctx) {
      const net = strOpt(ctx, "net-id");
      if (!net) throw new UsageError("interface-attach: --net-id NETWORK is required");
      const inst = await attach(ctx, ctx.args[0], {
        network: net,
        fixed_ip: strOpt(ctx, "fixed-ip"),
        mac: strOpt(ctx, "mac"),
      });
      print(ctx, inst, () => instanceProps(inst));
    },
  },
  {
    name: "interface-detach",
    summary: "Remove a port (by MAC or fixed IP) from an instance (nova interface-detach).",
    args: ["INSTANCE", "PORT"],
    async run(ctx) {
      const inst = await detach(ctx, ctx.args[0], ctx.args[1]);
      ctx.out(`instance ${inst.name}: ports ${networksOf(inst) || "(none)"}`);
    },
  },
  {
    name: "add-fixed-ip",
    summary: "Give an instance a fixed IP on NETWORK: a new port there (nova add-fixed-ip).",
    args: ["INSTANCE", "NETWORK"],
    async run(ctx) {
      const inst = await attach(ctx, ctx.args[0], { network: ctx.args[1], fixed_ip: null, mac: null });
      ctx.out(`instance ${inst.name}: ${networksOf(inst)}`);
    },
  },
  {
    name: "remove-fixed-ip",
    summary: "Remove the port holding ADDRESS from an instance (nova remove-fixed-ip).",
    args: ["INSTANCE", "ADDRESS"],
    async run(ctx) {
      const inst = await detach(ctx, ctx.args[0], ctx.args[1]);
      ctx.out(`instance ${inst.name}: ports ${networksOf(inst) || "(none)"}`);
    },
  },
  {
    name: "interface-list",
    summary: "An instance's ports (nova interface-list): network, fixed IPs, MAC, lease.",
    args: ["INSTANCE"],
    read: true,
    async run(ctx) {
      const inst = await ctx.api.call<InstanceJson>("GET", `/v1/instances/${encodeURIComponent(ctx.args[0])}`);
      print(ctx, inst.ports, () =>
        table(
          ["Port State", "Net ID", "IP addresses", "MAC Addr"],
          inst.ports.map((p) => [
            p.lease ?? "-",
            p.network,
            [p.address, p.addressV6].filter(Boolean).join(", "),
            p.mac,
          ]),
        ),
      );
    },
  },
  {
    name: "delete",
    summary: "Delete an instance: its ports, fixed IPs and lease are released at once.",
    args: ["INSTANCE"],
    async run(ctx) {
      const inst = await ctx.api.call<InstanceJson>("DELETE", `/v1/instances/${encodeURIComponent(ctx.args[0])}`);
      ctx.out(`deleted instance ${inst.name} (${inst.uuid})`);
    },
  },
  {
    name: "keypair-add",
    summary: "Add a keypair from an OpenSSH public key file.",
    args: ["NAME"],
    options: { "pub-key": s("public key file (e.g. ~/.ssh/id_ed25519.pub)", "FILE") },
    async run(ctx) {
      const f = strOpt(ctx, "pub-key");
      if (!f) throw new UsageError("keypair-add: --pub-key FILE is required");
      const k = await ctx.api.call<Keypair>("POST", "/v1/keypairs", {
        name: ctx.args[0],
        public_key: readFileArg(f, "--pub-key").toString(),
      });
      ctx.out(`added keypair ${k.name} (${k.fingerprint})`);
    },
  },
  {
    name: "keypair-list",
    summary: "List keypairs.",
    read: true,
    async run(ctx) {
      const ks = await ctx.api.call<Keypair[]>("GET", "/v1/keypairs");
      print(ctx, ks, () =>
        table(
          ["Name", "Type", "Fingerprint"],
          ks.map((k) => [k.name, k.type, k.fingerprint]),
        ),
      );
    },
  },
  {
    name: "keypair-delete",
    summary: "Delete a keypair.",
    args: ["NAME"],
    async run(ctx) {
      await ctx.api.call("DELETE", `/v1/keypairs/${encodeURIComponent(ctx.args[0])}`);
      ctx.out(`deleted keypair ${ctx.args[0]}`);
    },
  },
];

function instanceProps(i: InstanceJson): string {
  const { ports, floatingIps, meta, securityGroups, ...rest } = i as InstanceJson & {
    meta: Record<string, string>;
    securityGroups: string[];
  };
  return propertyTable({
    ...rest,
    meta: JSON.stringify(meta),
    security_groups: securityGroups,
    networks: networksOf(i),
    floating_ips: floatingIps,
    macs: ports.map((p) => p.mac),
    ports: ports.map((p) => p.port ?? "(not plugged)"),
  });
}
