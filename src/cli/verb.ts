/** The shape of a CLI verb and the argument parsing shared by all of them (node:util parseArgs). */
import { parseArgs } from "node:util";
import { UsageError } from "./errors.ts";
import { didYouMean } from "./suggest.ts";
import type { FlushReport } from "../dataplane/flush.ts";
import type { ApiClient } from "./client.ts";
import { toApiJson } from "./json.ts";

export interface OptionDef {
  type: "string" | "boolean";
  multiple?: boolean;
  short?: string;
  help: string;
  /** Placeholder shown in help, e.g. CIDR. */
  arg?: string;
}

export interface VerbContext {
  opts: Record<string, string | boolean | string[] | undefined>;
  args: string[];
  api: ApiClient;
  json: boolean;
  socket: string;
  configPath: string | null;
  out: (text: string) => void;
  /** What runs on this host itself rather than through the API (given by main.ts). */
  host?: HostActions;
}

/** The CLI never imports the agent: main.ts hands it what the agent's side does on this host. */
export interface HostActions {
  /** Run the daemon in the foreground. */
  runDaemon(o: DaemonOptions): Promise<void>;
  /** Remove what netlet added to this host (refused while an agent runs). */
  flushDataplane(statePath: string, say: (line: string) => void): Promise<FlushReport>;
}

/** What `netlet agent` hands to the daemon it starts. */
export interface DaemonOptions {
  /** The configuration file given with --config (null: the default path, when it exists). */
  configPath: string | null;
  socket: string;
  logFormat: "logfmt" | "json";
}

export interface Verb {
  /** One or two words: "network-create", "fixed reserve". */
  name: string;
  summary: string;
  /** Positional arguments: "NAME", "POOL?" (optional), "CMD..." (rest). */
  args?: string[];
  options?: Record<string, OptionDef>;
  /** True for read commands: they accept --json. */
  read?: boolean;
  run(ctx: VerbContext): Promise<void>;
}

export const GLOBAL_OPTIONS: Record<string, OptionDef> = {
  socket: { type: "string", arg: "PATH", help: "admin API socket (default $NETLET_SOCKET or /run/netlet/netlet.sock)" },
  config: { type: "string", arg: "PATH", help: "configuration file (default /etc/netlet/netlet.conf)" },
  json: { type: "boolean", help: "print JSON instead of a table" },
  help: { type: "boolean", short: "h", help: "show this help" },
};

export function verbHelp(v: Verb): string {
  const args = (v.args ?? []).map((a) => (a.endsWith("?") ? `[${a.slice(0, -1)}]` : a)).join(" ");
  const lines = [`usage: netlet ${v.name}${args ? ` ${args}` : ""}${v.options ? " [options]" : ""}`, "", v.summary, ""];
  const all = { ...(v.options ?? {}), ...GLOBAL_OPTIONS };
  if (!v.read) delete all.json;
  lines.push("options:");
  for (const [k, o] of Object.entries(all)) {
    const flag = `${o.short ? `-${o.short}, ` : ""}--${k}${o.type === "string" ? ` ${o.arg ?? "VALUE"}` : ""}`;
    lines.push(`  ${flag.padEnd(30)} ${o.help}${o.multiple ? " (repeatable)" : ""}`);
  }
  return lines.join("\n");
}

/**
 * nova's spellings: `--fixed_range_v4` for `--fixed-range-v4` and `--ip-range` for `--ip_range`.
 * An option nobody defines is refused with the closest one suggested.
 */
export function normalizeOptions(v: Verb, argv: string[]): string[] {
  const names = Object.keys({ ...(v.options ?? {}), ...GLOBAL_OPTIONS });
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") return [...out, ...argv.slice(i)]; // the rest is not ours (lab exec … -- CMD)
    const m = /^--([^=]+)(=.*)?$/.exec(a);
    if (!m || names.includes(m[1])) {
      out.push(a);
      continue;
    }
    const known = [m[1].replace(/_/g, "-"), m[1].replace(/-/g, "_")].find((n) => names.includes(n));
    if (known) {
      out.push(`--${known}${m[2] ?? ""}`);
      continue;
    }
    throw new UsageError(
      `${v.name}: unknown option --${m[1]}${didYouMean(m[1], names, (c) => `--${c}`)}; see \`netlet ${v.name} --help\``,
    );
  }
  return out;
}

/** Parse argv for one verb; every problem is a UsageError naming the argument and what is allowed. */
export function parseVerbArgs(v: Verb, argvIn: string[]): { opts: VerbContext["opts"]; args: string[] } {
  const argv = normalizeOptions(v, argvIn);
  const all = { ...(v.options ?? {}), ...GLOBAL_OPTIONS };
  const options = Object.fromEntries(
    Object.entries(all).map(([k, o]) => [
      k,
      {
        type: o.type,
        ...(o.multiple ? { multiple: true } : {}),
        ...(o.short ? { short: o.short } : {}),
      },
    ]),
  );
  // parseArgs would read "-1" (an ICMP type or port meaning "any") as a short option: mark
  // negative numbers so they stay positional, and unmark them afterwards.
  const MARK = "\u0000";
  const unmark = (x: string) => (x.startsWith(MARK) ? x.slice(1) : x);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv.map((a) => (/^-\d+$/.test(a) ? MARK + a : a)),
      options,
      allowPositionals: true,
      strict: true,
    });
    parsed.positionals = parsed.positionals.map(unmark);
    for (const [k, val] of Object.entries(parsed.values)) {
      if (typeof val === "string") (parsed.values as Record<string, unknown>)[k] = unmark(val);
      else if (Array.isArray(val))
        (parsed.values as Record<string, unknown>)[k] = val.map((x) => (typeof x === "string" ? unmark(x) : x));
    }
  } catch (err) {
    const msg = (err as Error).message.replace(/\. To specify a positional.*$/s, "");
    throw new UsageError(`${v.name}: ${msg}; see \`netlet ${v.name} --help\``);
  }
  if (parsed.values.json && !v.read) throw new UsageError(`${v.name}: --json is only for read commands`);
  const specs = v.args ?? [];
  const required = specs.filter((a) => !a.endsWith("?") && !a.endsWith("...")).length;
  const rest = specs.some((a) => a.endsWith("..."));
  const pos = parsed.positionals;
  if (!parsed.values.help && pos.length < required) {
    throw new UsageError(
      `${v.name}: missing ${specs[pos.length].replace(/[?.]+$/, "")}; usage: netlet ${v.name} ${specs.join(" ")}`,
    );
  }
  if (!rest && pos.length > specs.length) throw new UsageError(`${v.name}: unexpected argument "${pos[specs.length]}"`);
  return { opts: parsed.values as VerbContext["opts"], args: pos };
}

/** Helpers for option values. */
export function intOpt(ctx: VerbContext, name: string, min: number, max: number): number | null {
  const raw = ctx.opts[name];
  if (raw === undefined) return null;
  const s = String(raw);
  if (!/^-?\d+$/.test(s) || Number(s) < min || Number(s) > max)
    throw new UsageError(`--${name} ${s}: expected an integer from ${min} to ${max}`);
  return Number(s);
}

export function intArg(name: string, s: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(s) || Number(s) < min || Number(s) > max)
    throw new UsageError(`${name} ${s}: expected an integer from ${min} to ${max}`);
  return Number(s);
}

export function strOpt(ctx: VerbContext, name: string): string | null {
  const v = ctx.opts[name];
  return typeof v === "string" ? v : null;
}

export function listOpt(ctx: VerbContext, name: string): string[] {
  const v = ctx.opts[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [String(v)])
    .flatMap((x) => x.split(","))
    .map((x) => x.trim())
    .filter(Boolean);
}

/** The table, or with --json the data as nova's API spelled it (src/cli/json.ts). */
export function print(ctx: VerbContext, data: unknown, render: () => string): void {
  ctx.out(ctx.json ? JSON.stringify(toApiJson(data), null, 2) : render());
}
