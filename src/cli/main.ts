/**
 * `netlet` command line: finds the verb (one or two words), parses its arguments and runs it.
 * Exit codes: 0 ok, 1 runtime error, 2 usage error; errors are one line on stderr.
 */
import { ApiClient } from "./client.ts";
import { RuntimeError, UsageError } from "./errors.ts";
import { type HostActions, GLOBAL_OPTIONS, parseVerbArgs, type Verb, verbHelp } from "./verb.ts";
import { parseConfig } from "../config/load.ts";
import { closest } from "./suggest.ts";
import { DEFAULT_CONFIG } from "./verbs/misc.ts";
import { networkVerbs } from "./verbs/networks.ts";
import { instanceVerbs } from "./verbs/instances.ts";
import { portVerbs } from "./verbs/ports.ts";
import { secgroupVerbs } from "./verbs/secgroups.ts";
import { floatingVerbs } from "./verbs/floating.ts";
import { dataplaneVerbs, miscVerbs } from "./verbs/misc.ts";
import { dnsVerbs } from "./verbs/dns.ts";
import { labVerbs } from "./verbs/lab.ts";
import { clusterVerbs } from "./verbs/cluster.ts";
import { doctorVerbs } from "./verbs/doctor.ts";
import { libvirtVerbs } from "./verbs/libvirt.ts";
import { agentStopVerbs } from "./verbs/agent-stop.ts";
import { VERSION, commit } from "../version.ts";

export const VERBS: Verb[] = [
  ...miscVerbs,
  ...agentStopVerbs,
  ...networkVerbs,
  ...instanceVerbs,
  ...portVerbs,
  ...secgroupVerbs,
  ...floatingVerbs,
  ...dataplaneVerbs,
  ...dnsVerbs,
  ...clusterVerbs,
  ...doctorVerbs,
  ...libvirtVerbs,
  ...labVerbs,
];

export const DEFAULT_SOCKET = "/run/netlet/netlet.sock";

function usage(): string {
  const width = Math.max(...VERBS.map((v) => v.name.length));
  return [
    "usage: netlet VERB [arguments] [--socket PATH] [--config PATH] [--json]",
    "",
    "verbs:",
    ...VERBS.map((v) => `  ${v.name.padEnd(width)}  ${v.summary}`),
    "",
    "netlet VERB --help shows a verb's options; netlet --version its version.",
  ].join("\n");
}

const HELP = ["--help", "-h", "help"];

/** `netlet lab --help`: the verbs of a group ("lab", "cluster key"), or null when argv is not that. */
export function findVerb(argv: string[]): { verb: Verb; rest: string[] } {
  // Verbs are one to three words ("boot", "fixed reserve", "cluster key install"): longest first.
  for (let n = 3; n >= 1; n--) {
    const words = argv.slice(0, n).join(" ");
    const verb = argv.length >= n ? VERBS.find((v) => v.name === words) : undefined;
    if (verb) return { verb, rest: argv.slice(n) };
  }
  for (let n = 2; n >= 1; n--) {
    const prefix = `${argv.slice(0, n).join(" ")} `;
    const next = [
      ...new Set(VERBS.filter((v) => v.name.startsWith(prefix)).map((v) => v.name.slice(prefix.length).split(" ")[0])),
    ];
    if (next.length)
      throw new UsageError(
        `${prefix.trim()}: expected one of ${next.join(", ")}${argv[n] ? `, not "${argv[n]}"` : ""}`,
      );
  }
  const names = [...new Set(VERBS.flatMap((v) => [v.name, v.name.split(" ")[0]]))];
  const guess = closest(argv.slice(0, 2).join(" "), names) ?? closest(argv[0] ?? "", names);
  throw new UsageError(
    `unknown verb "${argv[0]}"${guess ? `; did you mean ${guess}?` : ""}; run \`netlet --help\` for the list`,
  );
}

/** `netlet lab --help`: the verbs of a group ("lab", "cluster key"), when no verb of that name exists. */
/** `netlet GROUP --help` (e.g. `netlet lab --help`): the group's verbs; null when argv names a verb. */
export function groupUsage(argv: string[]): string | null {
  const words = argv.filter((a) => !a.startsWith("-"));
  if (!argv.some((a) => a === "--help" || a === "-h")) return null;
  for (let n = 1; n <= 3; n++) if (VERBS.some((v) => v.name === words.slice(0, n).join(" "))) return null;
  for (let n = Math.min(words.length, 2); n >= 1; n--) {
    const prefix = words.slice(0, n).join(" ");
    const sub = VERBS.filter((v) => v.name.startsWith(`${prefix} `));
    if (sub.length) {
      const width = Math.max(...sub.map((v) => v.name.length));
      return [
        `usage: netlet ${prefix} VERB [arguments]`,
        "",
        "verbs:",
        ...sub.map((v) => `  ${v.name.padEnd(width)}  ${v.summary}`),
        "",
        `netlet ${prefix} VERB --help shows a verb's options.`,
      ].join("\n");
    }
  }
  return null;
}

/** Global options given before the verb (`netlet --socket S list`) move after it, where parseArgs reads them. */
export function hoistGlobals(argv: string[]): string[] {
  const lead: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const a = argv[i];
    const name = /^--([a-z]+)(=.*)?$/.exec(a);
    if (!name || !(name[1] in GLOBAL_OPTIONS) || name[1] === "help") break;
    const takesValue = GLOBAL_OPTIONS[name[1]].type === "string" && name[2] === undefined;
    lead.push(...argv.slice(i, i + (takesValue ? 2 : 1)));
    i += takesValue ? 2 : 1;
  }
  return [...argv.slice(i), ...lead];
}

/** admin_socket from the configuration file, when one is readable; the agent reports a bad file itself. */
async function configuredSocket(configPath: string | null): Promise<string | null> {
  try {
    const f = Bun.file(configPath ?? DEFAULT_CONFIG);
    if (!(await f.exists())) return null;
    return parseConfig(await f.text()).config.adminSocket;
  } catch {
    return null;
  }
}

export async function runCli(
  argv: string[],
  out: (s: string) => void = (s) => console.log(s),
  host?: HostActions,
): Promise<number> {
  try {
    if (argv.length === 0 || HELP.includes(argv[0])) {
      out(usage());
      return argv.length === 0 ? 2 : 0;
    }
    if (argv[0] === "--version" || argv[0] === "version") {
      out(`netlet ${VERSION} (${commit()})`);
      return 0;
    }
    const group = groupUsage(argv);
    if (group) {
      out(group);
      return 0;
    }
    const { verb, rest } = findVerb(hoistGlobals(argv));
    const { opts, args } = parseVerbArgs(verb, rest);
    if (opts.help) {
      out(verbHelp(verb));
      return 0;
    }
    const configPath = (opts.config as string | undefined) ?? process.env.NETLET_CONFIG ?? null;
    const socket =
      (opts.socket as string | undefined) ??
      process.env.NETLET_SOCKET ??
      (await configuredSocket(configPath)) ??
      DEFAULT_SOCKET;
    await verb.run({ opts, args, api: new ApiClient(socket), json: !!opts.json, socket, configPath, out, host });
    return 0;
  } catch (err) {
    if (err instanceof UsageError || err instanceof RuntimeError) {
      process.stderr.write(`netlet: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof Error && err.name === "ConfigError") {
      process.stderr.write(`netlet: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`netlet: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
