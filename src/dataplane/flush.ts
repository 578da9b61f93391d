/**
 * `netlet dataplane flush`: remove everything netlet added to this host: its nft tables, its
 * iptables chains and the jumps to them, and the addresses, devices, bridges and floating /32s
 * recorded as its own (see owned.ts). Stopping the agent leaves all of it in place on purpose
 * (instances keep working across restarts); this is the explicit undo, and install.sh
 * --uninstall runs it. Refused while an agent runs: it would program everything again.
 */
import type { Exec } from "../sys/exec.ts";
import type { OwnedStore } from "./links-apply.ts";
import type { LinkSnapshot, Step } from "./links.ts";
import { EMPTY_OWNED, planFlush } from "./owned.ts";

export interface FlushReport {
  ran: string[];
  failed: string[];
}

/** nft tables whose name starts with "netlet", from `nft -j list tables`. */
export function netletTables(json: string): { family: string; name: string }[] {
  try {
    const doc = JSON.parse(json) as { nftables?: { table?: { family: string; name: string } }[] };
    return (doc.nftables ?? []).flatMap((e) => (e.table?.name.startsWith("netlet") ? [e.table] : []));
  } catch {
    return [];
  }
}

/** iptables commands that remove netlet's chains from one `iptables-save` dump. */
export function iptablesFlushSteps(tool: string, dump: string): Step[] {
  const jumps: Step[] = [];
  const chains: { table: string; chain: string }[] = [];
  let table = "";
  for (const line of dump.split("\n")) {
    if (line.startsWith("*")) table = line.slice(1).trim();
    const decl = /^:(netlet-\S+)/.exec(line);
    if (decl) chains.push({ table, chain: decl[1] });
    const jump = /^-A (\S+) (.*-j netlet-\S+.*)$/.exec(line);
    if (jump && !jump[1].startsWith("netlet-")) {
      jumps.push({
        argv: [tool, "-t", table, "-D", jump[1], ...jump[2].split(" ")],
        why: `jump from ${table} ${jump[1]} to netlet`,
      });
    }
  }
  return [
    ...jumps,
    ...chains.map((c) => ({ argv: [tool, "-t", c.table, "-F", c.chain], why: `flush ${c.table} ${c.chain}` })),
    ...chains.map((c) => ({ argv: [tool, "-t", c.table, "-X", c.chain], why: `delete ${c.table} ${c.chain}` })),
  ];
}

async function snapshot(exec: Exec): Promise<LinkSnapshot> {
  const j = async (argv: string[]) => {
    const r = await exec(argv);
    try {
      return r.code === 0 ? JSON.parse(r.stdout) : [];
    } catch {
      return [];
    }
  };
  return {
    links: await j(["ip", "-j", "-d", "link", "show"]),
    addrs: await j(["ip", "-j", "addr", "show"]),
    routes: [],
    flood: {},
    sysctl: {},
  };
}

/**
 * Remove what netlet added. `owned` is the record of the links netlet made (null when this host
 * has no state yet); the caller holds the state directory's lock, so no agent runs meanwhile.
 */
export async function flushDataplane(
  owned: OwnedStore | null,
  exec: Exec,
  say: (line: string) => void,
): Promise<FlushReport> {
  const steps: Step[] = [];
  const tables = await exec(["nft", "-j", "list", "tables"]);
  for (const t of netletTables(tables.stdout))
    steps.push({ argv: ["nft", "delete", "table", t.family, t.name], why: `nft table ${t.family} ${t.name}` });
  for (const tool of ["iptables", "ip6tables"]) {
    const dump = await exec([`${tool}-save`]);
    if (dump.code === 0) steps.push(...iptablesFlushSteps(tool, dump.stdout));
  }
  steps.push(...planFlush(owned?.load() ?? EMPTY_OWNED, await snapshot(exec)));
  const report: FlushReport = { ran: [], failed: [] };
  for (const s of steps) {
    const r = await exec(s.argv);
    const line = s.argv.join(" ");
    if (r.code === 0) {
      report.ran.push(line);
      say(`removed: ${s.why} (${line})`);
    } else {
      report.failed.push(`${line}: ${r.stderr.trim()}`);
      say(`failed: ${s.why} (${line}): ${r.stderr.trim()}`);
    }
  }
  if (!report.failed.length) owned?.save(EMPTY_OWNED);
  return report;
}
