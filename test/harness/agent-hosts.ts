/**
 * Host namespaces on one underlay bridge, each running the real agent with its state in a
 * directory of its own: the set-up the cluster tests and the cluster benchmarks share.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { netletBinary } from "./binary.ts";
import { type Lab, nsRun } from "./netns.ts";

export interface AgentHost {
  name: string;
  ns: string;
  ip: string;
  dir: string;
  socket: string;
  proc: Subprocess | null;
}

/**
 * One namespace per name (prefix `nsPrefix`), linked to a new underlay bridge; each end inside
 * is renamed under0 and gets `${net}.${11 + i}/24`. State directories go below `root`.
 */
export function underlayHosts(
  lab: Lab,
  names: string[],
  o: { net: string; root: string; nsPrefix: string },
): AgentHost[] {
  const underlay = lab.addNamespace(`${o.nsPrefix}u`);
  lab.addBridge(underlay, "under0");
  return names.map((name, i) => {
    const ns = lab.addNamespace(`${o.nsPrefix}${name}`);
    const ip = `${o.net}.${11 + i}`;
    const [a, b] = lab.link(ns, underlay, { addrA: `${ip}/24` });
    nsRun(ns, ["ip", "link", "set", a, "down"]);
    nsRun(ns, ["ip", "link", "set", a, "name", "under0"]);
    nsRun(ns, ["ip", "link", "set", "under0", "up"]);
    nsRun(underlay, ["ip", "link", "set", b, "master", "under0"]);
    return { name, ns, ip, dir: join(o.root, name), socket: join(o.root, name, "netlet.sock"), proc: null };
  });
}

/**
 * Write the host's netlet.conf and cluster key, then start its agent; `join` is "" for the first
 * host. `extra` lines go to [DEFAULT].
 */
export function startAgent(lab: Lab, h: AgentHost, key: string, join_: string, extra = ""): void {
  mkdirSync(h.dir, { recursive: true });
  const conf = join(h.dir, "netlet.conf");
  writeFileSync(
    conf,
    `[DEFAULT]\nhost = ${h.name}\nmy_ip = ${h.ip}\nstate_path = ${h.dir}\npublic_interface = under0\n${extra}[cluster]\nbind = ${h.ip}:7946\njoin = ${join_}\n`,
  );
  writeFileSync(join(h.dir, "cluster.keys"), `${key}\n`, { mode: 0o600 });
  h.proc = lab.spawn(h.ns, [netletBinary(), "agent", "--config", conf, "--socket", h.socket], { stdout: "ignore" });
}
