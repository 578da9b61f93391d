/** libvirt hook|install|xml and qemu-ifup|qemu-ifdown. */
import { spawnSync } from "bun";
import { realpathSync } from "node:fs";
import { RuntimeError, UsageError } from "../errors.ts";
import { intOpt, strOpt, type Verb, type VerbContext } from "../verb.ts";
import { resolveTap, type IfupInstance } from "../../qemu/ifup.ts";
import { HookError } from "../../libvirt/domain.ts";
import { readStdin, runHook } from "../../libvirt/hook.ts";
import { installHook } from "../../libvirt/install.ts";
import { renderDomainXml, type RenderInstance } from "../../libvirt/render.ts";

const s = (help: string, arg = "VALUE") => ({ type: "string" as const, help, arg });

function onAgentDown(ctx: VerbContext): "refuse" | "start" {
  const v = strOpt(ctx, "on-agent-down") ?? "refuse";
  if (v !== "refuse" && v !== "start") throw new UsageError(`--on-agent-down ${v}: expected refuse or start`);
  return v;
}

function ip(argv: string[]): void {
  const r = spawnSync(["ip", ...argv], { stdout: "ignore", stderr: "pipe" });
  if (r.exitCode !== 0) throw new RuntimeError(`ip ${argv.join(" ")}: ${r.stderr.toString().trim()}`);
}

async function tapTarget(ctx: VerbContext) {
  const list = await ctx.api.call<IfupInstance[]>("GET", "/v1/instances");
  try {
    return resolveTap(
      ctx.args[0],
      { instance: process.env.NETLET_INSTANCE || undefined, mac: process.env.NETLET_MAC || undefined },
      list,
    );
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export const libvirtVerbs: Verb[] = [
  {
    name: "libvirt hook",
    summary:
      "The program libvirt runs as /etc/libvirt/hooks/qemu (domain XML on stdin); installed by `netlet libvirt install`.",
    args: ["DOMAIN", "OPERATION", "SUB-OPERATION?", "EXTRA?"],
    options: {
      "on-agent-down": s(
        "refuse (default): a start fails while the agent is unreachable; start: let it start unserved",
        "refuse|start",
      ),
      timeout: s("seconds to wait for the agent (default 10)", "SECONDS"),
    },
    async run(ctx) {
      const opts = {
        socket: ctx.socket,
        timeoutMs: (intOpt(ctx, "timeout", 1, 120) ?? 10) * 1000,
        startWhenAgentDown: onAgentDown(ctx) === "start",
        warn: (l: string) => process.stderr.write(`netlet: ${l}\n`),
      };
      try {
        await runHook(ctx.args[1], await readStdin(), opts);
      } catch (err) {
        if (err instanceof HookError) throw new RuntimeError(err.message);
        throw err;
      }
    },
  },
  {
    name: "libvirt install",
    summary: "Install netlet's libvirt hook (/etc/libvirt/hooks/qemu), keeping and chaining an existing one.",
    options: {
      "hooks-dir": s("libvirt's hook directory (default /etc/libvirt/hooks)", "DIR"),
      binary: s("netlet binary the hook runs (default this one)", "PATH"),
      "on-agent-down": s(
        "refuse (default) or start: what a domain start does while the agent is unreachable",
        "refuse|start",
      ),
      timeout: s("seconds the hook waits for the agent (default 10)", "SECONDS"),
    },
    async run(ctx) {
      const binary = strOpt(ctx, "binary") ?? realpathSync(process.execPath);
      if (!binary.startsWith("/")) throw new UsageError(`--binary ${binary}: expected an absolute path`);
      const notes = installHook({
        hooksDir: strOpt(ctx, "hooks-dir") ?? "/etc/libvirt/hooks",
        binary,
        socket: ctx.socket,
        onAgentDown: onAgentDown(ctx),
        timeoutSeconds: intOpt(ctx, "timeout", 1, 120) ?? 10,
      });
      for (const n of notes) ctx.out(n);
    },
  },
  {
    name: "libvirt xml",
    summary: "Print what to paste into a libvirt domain for an instance (uuid, netlet metadata, SMBIOS, interfaces).",
    args: ["INSTANCE"],
    async run(ctx) {
      const inst = await ctx.api.call<RenderInstance>("GET", `/v1/instances/${encodeURIComponent(ctx.args[0])}`);
      const nets = await ctx.api.call<{ id: string; bridge: string }[]>("GET", "/v1/networks");
      ctx.out(renderDomainXml(inst, new Map(nets.map((n) => [n.id, n.bridge]))));
    },
  },
  {
    name: "qemu-ifup",
    summary: "QEMU -netdev tap script: put the tap in its network's bridge and declare it as the instance's port.",
    args: ["TAP"],
    async run(ctx) {
      const t = await tapTarget(ctx);
      const nets = await ctx.api.call<{ id: string; bridge: string; mtu: number | null }[]>("GET", "/v1/networks");
      const net = nets.find((n) => n.id === t.networkId);
      if (!net) throw new RuntimeError(`network ${t.networkId} of the port is gone`);
      ip(["link", "set", ctx.args[0], "master", net.bridge, ...(net.mtu ? ["mtu", String(net.mtu)] : []), "up"]);
      await ctx.api.call("POST", `/v1/instances/${t.instance}/plug`, { port: ctx.args[0], mac: t.mac });
    },
  },
  {
    name: "qemu-ifdown",
    summary: "QEMU -netdev tap downscript: withdraw the tap's port declaration (the instance keeps its addresses).",
    args: ["TAP"],
    async run(ctx) {
      const t = await tapTarget(ctx);
      await ctx.api.call("POST", `/v1/instances/${t.instance}/unplug`, { port: ctx.args[0] });
    },
  },
];
