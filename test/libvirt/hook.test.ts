import { describe, expect, test } from "bun:test";
import { runHook } from "../../src/libvirt/hook.ts";
import { domainXml, netletMeta } from "./fixtures.ts";

const down = (startWhenAgentDown = false) => {
  const warnings: string[] = [];
  return {
    warnings,
    o: {
      socket: "/nonexistent/netlet.sock",
      timeoutMs: 500,
      startWhenAgentDown,
      warn: (l: string) => warnings.push(l),
    },
  };
};

describe("libvirt hook shell when the agent is unreachable", () => {
  test("a domain with no bridged interface and no netlet metadata starts without asking the agent", async () => {
    const { o, warnings } = down();
    await runHook("prepare", domainXml({ ifaces: ["<interface type='user'/>"] }), o);
    await runHook("migrate", domainXml({ ifaces: ["<interface type='user'/>"] }), o);
    expect(warnings).toEqual([]);
  });

  test("a bridged domain's start is refused with one line saying what to do, unless installed with --on-agent-down start", async () => {
    const e = await runHook("prepare", domainXml(), down().o).catch((x) => x);
    expect(e.message).toBe(
      "domain vm1: no netlet agent is listening on /nonexistent/netlet.sock; start the agent, or install the hook with --on-agent-down start",
    );
    // An incoming migration is refused the same way: the new host could not serve the guest.
    const m = await runHook("migrate", domainXml(), down().o).catch((x) => x);
    expect(m.message).toBe(e.message);
    const lenient = down(true);
    await runHook("started", domainXml(), lenient.o);
    expect(lenient.warnings).toEqual([
      "warning: domain vm1: no netlet agent is listening on /nonexistent/netlet.sock; the domain starts unserved and is registered when the agent reconciles",
    ]);
  });

  test("invalid netlet metadata is refused before the agent is asked; a stop never fails", async () => {
    const e = await runHook("prepare", domainXml({ metadata: netletMeta("<netlet:bogus/>") }), down(true).o).catch(
      (x) => x,
    );
    expect(e.message).toContain("domain vm1: netlet metadata: unknown element <netlet:bogus>");
    const stop = down();
    await runHook("stopped", domainXml(), stop.o);
    expect(stop.warnings[0]).toStartWith("warning: domain vm1: no netlet agent is listening");
  });
});
