#!/usr/bin/env bun
/** Entry point of the netlet binary. */
import { runCli } from "./cli/main.ts";

const code = await runCli(process.argv.slice(2));
// The agent verb returns only after a clean shutdown; exit explicitly so no handle keeps us alive.
process.exit(code);
