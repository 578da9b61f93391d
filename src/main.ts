#!/usr/bin/env bun
/**
 * Entry point of the netlet binary: the command line, which hands `netlet agent` (and the other
 * things done on this host itself, such as `dataplane flush`) to the agent's side. That side is
 * loaded only when used, so short-lived verbs (the libvirt hook, qemu-ifup) start without
 * evaluating the agent's modules.
 */
import { runCli } from "./cli/main.ts";

const code = await runCli(process.argv.slice(2), undefined, {
  async runDaemon(o) {
    const { runDaemon } = await import("./agent/main.ts");
    await runDaemon(o);
  },
  async flushDataplane(statePath, say) {
    const { flushHost } = await import("./agent/flush.ts");
    return flushHost(statePath, say);
  },
});
// The agent verb returns only after a clean shutdown; exit explicitly so no handle keeps us alive.
process.exit(code);
