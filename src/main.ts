#!/usr/bin/env bun
/**
 * Entry point of the netlet binary: the command line, which hands `netlet agent` to the daemon.
 * The daemon is loaded only when it runs, so short-lived verbs (the libvirt hook, qemu-ifup)
 * start without evaluating the agent's modules.
 */
import { runCli } from "./cli/main.ts";

const code = await runCli(process.argv.slice(2), undefined, async (o) => {
  const { runDaemon } = await import("./agent/main.ts");
  await runDaemon(o);
});
// The agent verb returns only after a clean shutdown; exit explicitly so no handle keeps us alive.
process.exit(code);
