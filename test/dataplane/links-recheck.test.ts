/** Links.apply reads the host only when the link-relevant desired state changed, or to recheck. */
import { expect, test } from "bun:test";
import { desiredFromFixture } from "../../src/dataplane/desired.ts";
import type { Exec } from "../../src/sys/exec.ts";
import { Links } from "../../src/dataplane/links-apply.ts";
import { createLogger } from "../../src/log.ts";

test("an unchanged desired state runs no command until the recheck time; a changed one does at once", async () => {
  const calls: string[] = [];
  // An empty host: every read answers "nothing", every change succeeds.
  const exec: Exec = async (argv) => (
    calls.push(argv.join(" ")), { code: 0, stdout: argv.includes("-j") ? "[]" : "", stderr: "" }
  );
  let now = 0;
  const links = new Links({ exec, log: createLogger({ write: () => {} }), recheckMs: 10_000, now: () => now });
  const fixture = {
    config: { firewallDriver: "noop" as const },
    networks: [{ id: "n", bridge: "nlbr0", cidr: "10.0.0.0/24", hostAddress: "10.0.0.1" }],
  };
  const d = desiredFromFixture(fixture);
  await links.apply(d);
  expect(calls.some((c) => c.startsWith("ip -j -d link show"))).toBe(true);
  calls.length = 0;
  // A boot on a served network: instances change, links do not.
  now = 5_000;
  expect(await links.apply({ ...d, instances: [] })).toEqual({ ran: [], skipped: [] });
  expect(calls).toEqual([]);
  // The recheck time passed: the host is read again (something may have changed behind us).
  now = 10_000;
  await links.apply(d);
  expect(calls.some((c) => c.startsWith("ip -j -d link show"))).toBe(true);
  calls.length = 0;
  now = 10_001;
  await links.apply(
    desiredFromFixture({
      ...fixture,
      networks: [...fixture.networks, { id: "m", bridge: "nlbr1", cidr: "10.1.0.0/24", hostAddress: "10.1.0.1" }],
    }),
  );
  expect(calls.some((c) => c.includes("nlbr1"))).toBe(true);
});
