/** `netlet agent-stop`: the unit's ExecStop=, which withdraws the guests' routes only when systemd stops (not restarts) it. */
import { existsSync } from "node:fs";
import { jobTypeOf, stopIntent } from "../systemd-stop.ts";
import { UsageError } from "../errors.ts";
import { strOpt, type Verb, type VerbContext } from "../verb.ts";
import { shutdownAgent } from "./misc.ts";

const JOB_TYPE = /^[a-z-]{1,32}$/;
const UNIT = /^[A-Za-z0-9:_.@-]{1,255}$/;

/** The job systemd runs for `unit` (null: none, or systemctl is missing or fails: a restart is then assumed). */
function systemdJob(unit: string): { type: string | null; note: string | null } {
  try {
    const p = Bun.spawnSync(["systemctl", "list-jobs", "--no-legend", "--no-pager", unit], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      timeout: 5000,
    });
    const err = p.stderr.toString().trim().replace(/\s+/g, " ");
    if (p.exitCode !== 0) return { type: null, note: `systemctl list-jobs failed: ${err || `exit ${p.exitCode}`}` };
    return { type: jobTypeOf(p.stdout.toString(), unit), note: null };
  } catch (err) {
    return { type: null, note: `systemctl not available (${(err as Error).message})` };
  }
}

async function agentStop(ctx: VerbContext): Promise<void> {
  const unit = strOpt(ctx, "unit") ?? "netlet.service";
  if (!UNIT.test(unit)) throw new UsageError(`--unit ${JSON.stringify(unit)}: expected a systemd unit name`);
  const given = strOpt(ctx, "job");
  if (given !== null && !JOB_TYPE.test(given))
    throw new UsageError(`--job ${JSON.stringify(given)}: expected a systemd job type such as stop or restart`);
  const job: { type: string | null; note: string | null } =
    given !== null ? { type: given, note: null } : systemdJob(unit);
  const seen = job.type ? `job ${job.type}` : `no job${job.note ? ` (${job.note})` : ""}`;
  if (stopIntent(job.type) === "keep") {
    ctx.out(`${unit}: ${seen}: the agent keeps its guests' IPv6 routes and stops on SIGTERM`);
    return;
  }
  if (!existsSync(ctx.socket)) {
    ctx.out(`${unit}: ${seen}: no agent listens on ${ctx.socket}; nothing to withdraw`);
    return;
  }
  await shutdownAgent(ctx);
}

export const agentStopVerbs: Verb[] = [
  {
    name: "agent-stop",
    summary:
      "ExecStop= of the systemd unit: on a stop (not a restart) the running agent withdraws its IPv6 routes (router lifetime 0) and exits; on a restart it does nothing (SIGTERM follows and the guests keep their routes).",
    options: {
      unit: { type: "string", arg: "NAME", help: "the agent's systemd unit (default netlet.service)" },
      job: {
        type: "string",
        arg: "TYPE",
        help: "the job type instead of asking systemctl list-jobs: stop withdraws, anything else keeps (other init systems)",
      },
    },
    run: agentStop,
  },
];
