/**
 * `netlet agent` as a process: reads the configuration, starts the agent and runs until a
 * signal. SIGHUP reloads what can change live; SIGTERM and SIGINT (what both `systemctl stop`
 * and `restart` send) stop it and keep the guests' routes; `netlet agent --shutdown` asks over
 * the admin API to stop serving for good.
 */
import type { DaemonOptions } from "../cli/verb.ts";
import { DEFAULT_CONFIG, loadConfigFile } from "../config/load.ts";
import { createLogger } from "../log.ts";
import { startAgent } from "./start.ts";

export async function runDaemon(o: DaemonOptions): Promise<void> {
  const path = o.configPath ?? DEFAULT_CONFIG;
  const explicit = o.configPath !== null;
  const { config, warnings } = await loadConfigFile(path, explicit);
  const log = createLogger({ format: o.logFormat, level: config.logLevel });
  for (const w of warnings) log.warn(w);
  const configPath = (await Bun.file(path).exists()) ? path : null;
  // A shutdown asked while the agent still starts (its first pass) is kept and done once it runs.
  let askedEarly = false;
  let finish: (withdraw: boolean) => void = (withdraw) => {
    askedEarly ||= withdraw;
  };
  const agent = await startAgent({
    config,
    socket: o.socket,
    log,
    configPath,
    onShutdownRequest: () => finish(true),
  });
  process.on("SIGHUP", () => {
    loadConfigFile(path, explicit)
      .then(({ config: next, warnings: ws }) => {
        for (const w of ws) log.warn(w);
        return agent.reload(next);
      })
      .catch((err) =>
        log.error("config reload refused; keeping the running configuration", { err: String(err.message ?? err) }),
      );
  });
  await new Promise<void>((resolve) => {
    let stopping = false;
    finish = (withdraw) => {
      if (stopping) return;
      stopping = true;
      void agent.stop({ withdraw }).then(resolve);
    };
    // SIGTERM is what both `systemctl restart` and `stop` send: keep the guests' routes.
    process.once("SIGTERM", () => finish(false));
    process.once("SIGINT", () => finish(false));
    if (askedEarly) finish(true);
  });
}
