/**
 * `netlet` command line: finds the verb (one or two words), parses its arguments and runs it.
 * Exit codes: 0 ok, 1 runtime error, 2 usage error; errors are one line on stderr.
 */
import { ApiClient } from "./client.ts";
import { RuntimeError, UsageError } from "./errors.ts";
import { parseVerbArgs, verbHelp, type Verb } from "./verb.ts";
import { networkVerbs } from "./verbs/networks.ts";
import { instanceVerbs } from "./verbs/instances.ts";
import { secgroupVerbs } from "./verbs/secgroups.ts";
import { floatingVerbs } from "./verbs/floating.ts";
import { dataplaneVerbs, miscVerbs } from "./verbs/misc.ts";
import { labVerbs } from "../lab/verbs.ts";
import { VERSION, commit } from "../version.ts";

export const VERBS: Verb[] = [...miscVerbs, ...networkVerbs, ...instanceVerbs, ...secgroupVerbs, ...floatingVerbs, ...dataplaneVerbs, ...labVerbs];

export const DEFAULT_SOCKET = "/run/netlet/netlet.sock";

function usage(): string {
  const width = Math.max(...VERBS.map((v) => v.name.length));
  return ["usage: netlet VERB [arguments] [--socket PATH] [--config PATH] [--json]", "", "verbs:",
    ...VERBS.map((v) => `  ${v.name.padEnd(width)}  ${v.summary}`), "", "netlet VERB --help shows a verb's options; netlet --version its version."].join("\n");
}

export function findVerb(argv: string[]): { verb: Verb; rest: string[] } {
  const two = `${argv[0]} ${argv[1]}`;
  const verb = VERBS.find((v) => v.name === two) ?? VERBS.find((v) => v.name === argv[0]);
  if (!verb) {
    const group = VERBS.filter((v) => v.name.startsWith(`${argv[0]} `)).map((v) => v.name.split(" ")[1]);
    if (group.length) throw new UsageError(`netlet ${argv[0]}: expected one of ${group.join(", ")}${argv[1] ? `, not "${argv[1]}"` : ""}`);
    throw new UsageError(`unknown verb "${argv[0]}"; run \`netlet --help\` for the list`);
  }
  return { verb, rest: argv.slice(verb.name.split(" ").length) };
}

export async function runCli(argv: string[], out: (s: string) => void = (s) => console.log(s)): Promise<number> {
  try {
    if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
      out(usage());
      return argv.length === 0 ? 2 : 0;
    }
    if (argv[0] === "--version" || argv[0] === "version") {
      out(`netlet ${VERSION} (${commit()})`);
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
