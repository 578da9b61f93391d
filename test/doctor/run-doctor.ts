/**
 * Runs the doctor verb in this process's network namespace, as `netlet doctor ARGS` would
 * (the test starts it with `ip netns exec NS bun run-doctor.ts ...`). Exit code as the CLI's.
 */
import { ApiClient } from "../../src/cli/client.ts";
import { RuntimeError } from "../../src/cli/errors.ts";
import { parseVerbArgs } from "../../src/cli/verb.ts";
import { doctorVerbs } from "../../src/cli/verbs/doctor.ts";

const verb = doctorVerbs[0];
const { opts, args } = parseVerbArgs(verb, process.argv.slice(2));
const socket = String(opts.socket ?? "/run/netlet/netlet.sock");
try {
  await verb.run({
    opts,
    args,
    api: new ApiClient(socket),
    json: !!opts.json,
    socket,
    configPath: (opts.config as string | undefined) ?? null,
    out: (s) => console.log(s),
  });
  process.exit(0);
} catch (err) {
  process.stderr.write(`netlet: ${(err as Error).message}\n`);
  process.exit(err instanceof RuntimeError ? 1 : 2);
}
