/** netlet doctor: the admin guide's troubleshooting section as a command. */
import type { Network } from "../../model.ts";
import { loadConfigFile, defaultConfig, type Config } from "../../config/load.ts";
import { report, renderText, runChecks } from "../../doctor/checks.ts";
import { gatherFacts } from "../../doctor/host.ts";
import type { CheckResult, DoctorTarget } from "../../doctor/types.ts";
import { RuntimeError } from "../errors.ts";
import { listOpt, print, type Verb, type VerbContext } from "../verb.ts";
import { DEFAULT_CONFIG } from "./misc.ts";

/** How long to wait for a running agent's network list before falling back to the configuration. */
const AGENT_TIMEOUT_MS = 2000;

async function readConfig(path: string, required: boolean): Promise<{ config: Config; check: CheckResult }> {
  try {
    const exists = await Bun.file(path).exists();
    const { config, warnings } = await loadConfigFile(path, required);
    if (!exists)
      return {
        config,
        check: {
          id: "config",
          status: "warn",
          summary: `${path} does not exist: built-in defaults apply`,
          fix: `netlet config sample > ${path}, then edit it`,
        },
      };
    if (warnings.length)
      return {
        config,
        check: {
          id: "config",
          status: "warn",
          summary: `${path}: ${warnings.join("; ")}`,
          fix: "remove or correct those keys (netlet config sample lists every option)",
        },
      };
    return { config, check: { id: "config", status: "ok", summary: `${path} is valid` } };
  } catch (err) {
    return {
      config: defaultConfig(),
      check: {
        id: "config",
        status: "fail",
        summary: `${(err as Error).message}; the checks below assume the defaults`,
        fix: `correct ${path} (netlet config check --config ${path})`,
      },
    };
  }
}

/** What a running agent says about itself; null when no agent answers. */
export interface AgentFacts {
  bridges: string[];
  /** The configuration the agent runs with, and the file it read (null: built-in defaults). */
  config: Config;
  configPath: string | null;
  alarms: string[];
}

async function agentFacts(ctx: VerbContext): Promise<AgentFacts | null> {
  const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), AGENT_TIMEOUT_MS).unref());
  const call = Promise.all([
    ctx.api.call<Network[]>("GET", "/v1/networks"),
    ctx.api.call<{ path: string | null; config: Config }>("GET", "/v1/config"),
    ctx.api.call<{ alarms: string[] }>("GET", "/v1/status"),
  ])
    .then(([nets, cfg, st]) => ({
      bridges: nets.map((n) => n.bridge),
      config: cfg.config,
      configPath: cfg.path,
      alarms: st.alarms ?? [],
    }))
    .catch(() => null);
  return Promise.race([call, timeout]);
}

/** The agent's raised alarms: runtime failures no look at the host's configuration can find. */
export function alarmsCheck(alarms: string[]): CheckResult {
  if (!alarms.length) return { id: "alarms", status: "ok", summary: "the running agent raises no alarm" };
  return {
    id: "alarms",
    status: "fail",
    summary: `the running agent raises ${alarms.length} alarm(s): ${alarms.join("; ")}`,
    fix: "netlet status shows each alarm; the agent's log has the details (journalctl -u netlet)",
  };
}

export async function doctorTarget(ctx: VerbContext, config: Config, agent?: AgentFacts | null): Promise<DoctorTarget> {
  const explicitSocket = typeof ctx.opts.socket === "string" || !!process.env.NETLET_SOCKET;
  const fromAgent = agent === undefined ? ((await agentFacts(ctx))?.bridges ?? null) : (agent?.bridges ?? null);
  const bridges = [...new Set([...(fromAgent ?? [config.flatNetworkBridge]), ...listOpt(ctx, "bridge")])];
  return {
    firewallDriver: config.firewallDriver,
    useIpv6: config.useIpv6,
    dnsService: config.dnsService && config.networkManager !== "flat",
    sendArpForHa: config.sendArpForHa,
    publicInterface: config.publicInterface,
    bridges,
    bridgesFrom: fromAgent ? "the agent" : "flat_network_bridge",
    statePath: config.statePath,
    adminSocket: explicitSocket ? ctx.socket : config.adminSocket,
  };
}

export const doctorVerbs: Verb[] = [
  {
    name: "doctor",
    summary:
      "Check this host for what netlet needs (nft, kernel, ip_forward, rp_filter, bridge filtering, other DHCP/RA daemons) and print the fixes.",
    read: true,
    options: {
      bridge: {
        type: "string",
        multiple: true,
        arg: "BRIDGE",
        help: "also check this bridge (default: the running agent's bridges, else flat_network_bridge)",
      },
    },
    async run(ctx) {
      // A running agent's own configuration and alarms come first: it may run with another file.
      const agent = await agentFacts(ctx);
      const path = ctx.configPath ?? DEFAULT_CONFIG;
      const { config, check } = agent
        ? {
            config: agent.config,
            check: {
              id: "config",
              status: "ok",
              summary: `the running agent's configuration (${agent.configPath ?? "built-in defaults"})`,
            } as CheckResult,
          }
        : await readConfig(path, ctx.configPath !== null);
      const target = await doctorTarget(ctx, config, agent);
      const r = report([
        check,
        ...(agent ? [alarmsCheck(agent.alarms)] : []),
        ...runChecks(await gatherFacts(target), target),
      ]);
      print(ctx, r, () => renderText(r));
      if (!r.ok) throw new RuntimeError(`doctor: ${r.counts.fail} check${r.counts.fail === 1 ? "" : "s"} failed`);
    },
  },
];
