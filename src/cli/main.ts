/**
 * `netlet` command line: finds the verb (one or two words), parses its arguments and runs it.
 * Exit codes: 0 ok, 1 runtime error, 2 usage error; errors are one line on stderr.
 */
import { ApiClient } from "./client.ts";
import { RuntimeError, UsageError } from "./errors.ts";
import { parseVerbArgs, verbHelp, type Verb } from "./verb.ts";
import { networkVerbs } from "./verbs/networks.ts";
import { instanceVerbs } from "./verbs/instances.ts";
import { portVerbs } from "./verbs/ports.ts";
import { secgroupVerbs } from "./verbs/secgroups.ts";
import { floatingVerbs } from "./verbs/floating.ts";
import { dataplaneVerbs, miscVerbs } from "./verbs/misc.ts";
import { dnsVerbs } from "./verbs/dns.ts";
import { labVerbs } from "../lab/verbs.ts";
import { clusterVerbs } from "./verbs/cluster.ts";
import { doctorVerbs } from "./verbs/doctor.ts";
import { libvirtVerbs } from "../libvirt/verbs.ts";
import { VERSION, commit } from "../version.ts";

export const VERBS: Verb[] = [...miscVerbs, ...networkVerbs, ...instanceVerbs, ...portVerbs, ...secgroupVerbs, ...floatingVerbs, ...dataplaneVerbs, ...dnsVerbs, ...clusterVerbs, ...doctorVerbs, ...libvirtVerbs, ...labVerbs];

export const DEFAULT_SOCKET = "/run/netlet/netlet.sock";

function usage(): string {
  const width = Math.max(...VERBS.map((v) => v.name.length));
  return ["usage: netlet VERB [arguments] [--socket PATH] [--config PATH] [--json]", "", "verbs:",
    ...VERBS.map((v) => `  ${v.name.padEnd(width)}  ${v.summary}`), "", "netlet VERB --help shows a verb's options; netlet --version its version."].join("\n");
}

const HELP = ["--help", "-h", "help"];

/** `netlet lab --help`: the verbs of a group ("lab", "cluster key"), or null when argv is not that. */
export function groupUsage(argv: string[]): string | null {
  for (let n = 2; n >= 1; n--) {
    if (argv.length !== n + 1 || !HELP.includes(argv[n])) continue;
    const words = argv.slice(0, n).join(" ");
    const members = VERBS.filter((v) => v.name.startsWith(`${words} `));
    if (VERBS.some((v) => v.name === words) || members.length === 0) continue;
    const width = Math.max(...members.map((v) => v.name.length));
    return [`usage: netlet ${words} VERB [arguments]`, "", "verbs:", ...members.map((v) => `  ${v.name.padEnd(width)}  ${v.summary}`), "",
      `netlet ${words} VERB --help shows a verb's options.`].join("\n");
  }
  return null;
}

export function findVerb(argv: string[]): { verb: Verb; rest: string[] } {
  // Verbs are one to three words ("boot", "fixed reserve", "cluster key install"): longest first.
  for (let n = 3; n >= 1; n--) {
    const words = argv.slice(0, n).join(" ");
    const verb = argv.length >= n ? VERBS.find((v) => v.name === words) : undefined;
    if (verb) return { verb, rest: argv.slice(n) };
  }
  for (let n = 2; n >= 1; n--) {
    const prefix = `${argv.slice(0, n).join(" ")} `;
    const next = [...new Set(VERBS.filter((v) => v.name.startsWith(prefix)).map((v) => v.name.slice(prefix.length).split(" ")[0]))];
    if (next.length) throw new UsageError(`netlet ${prefix.trim()}: expected one of ${next.join(", ")}${argv[n] ? `, not "${argv[n]}"` : ""}`);
  }
  throw new UsageError(`unknown verb "${argv[0]}"; run \`netlet --help\` for the list`);
}

export async function runCli(argv: string[], out: (s: string) => void = (s) => console.log(s)): Promise<number> {
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
    const { verb, rest } = findVerb(argv);
    const { opts, args } = parseVerbArgs(verb, rest);
    if (opts.help) {
      out(verbHelp(verb));
      return 0;
    }
    const socket = (opts.socket as string | undefined) ?? process.env.NETLET_SOCKET ?? DEFAULT_SOCKET;
    const configPath = (opts.config as string | undefined) ?? process.env.NETLET_CONFIG ?? null;
    await verb.run({ opts, args, api: new ApiClient(socket), json: !!opts.json, socket, configPath, out });
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
