/**
 * systemd runs a unit's ExecStop= both for `systemctl stop` and for `systemctl restart` (a
 * restart is a stop then a start), and sends the same SIGTERM afterwards. What tells them apart
 * is the job systemd is running for the unit, which `systemctl list-jobs UNIT` shows: `stop` (also
 * at poweroff or reboot) means the host stops serving, so the agent withdraws its IPv6 routes;
 * `restart` (an upgrade, a configuration change) or no job at all (the process exited on its own
 * and Restart= brings it back) means it will serve again at once, so the guests keep them.
 */

export type StopIntent = "withdraw" | "keep";

/** The type of the job systemd runs for `unit`, from `systemctl list-jobs --no-legend` output; null when none. */
export function jobTypeOf(listJobs: string, unit: string): string | null {
  for (const line of listJobs.split("\n")) {
    // JOB UNIT TYPE STATE, e.g. "1234 netlet.service stop running".
    const [id, name, type] = line.trim().split(/\s+/);
    if (name === unit && /^\d+$/.test(id) && type) return type;
  }
  return null;
}

/** Only a stop job withdraws: every other job, or none, brings the agent back. */
export function stopIntent(jobType: string | null): StopIntent {
  return jobType === "stop" ? "withdraw" : "keep";
}
