/** Stop or restart: which job systemd runs for the unit decides whether the agent withdraws its routes. */
import { describe, expect, test } from "bun:test";
import { jobTypeOf, stopIntent } from "../../src/cli/systemd-stop.ts";

describe("systemd stop vs restart", () => {
  test("the unit's job type is read from systemctl list-jobs --no-legend", () => {
    const out = "  812 netlet.service     restart running\n  813 libvirtd.service  stop    waiting\n";
    expect(jobTypeOf(out, "netlet.service")).toBe("restart");
    expect(jobTypeOf(out, "libvirtd.service")).toBe("stop");
    expect(jobTypeOf("1 netlet.service stop running", "netlet.service")).toBe("stop");
    // No job for the unit (the process exited by itself and Restart= brings it back), or none at all.
    expect(jobTypeOf(out, "netlet@b.service")).toBeNull();
    expect(jobTypeOf("", "netlet.service")).toBeNull();
    expect(jobTypeOf("No jobs running.\n", "netlet.service")).toBeNull();
    // A header line is not a job.
    expect(jobTypeOf("JOB UNIT TYPE STATE\n", "UNIT")).toBeNull();
  });

  test("only a stop withdraws: a restart, another job or none keeps the guests' routes", () => {
    expect(stopIntent("stop")).toBe("withdraw");
    for (const t of ["restart", "try-restart", "reload-or-restart", "start", "reload", null])
      expect([t, stopIntent(t)]).toEqual([t, "keep"]);
  });
});
