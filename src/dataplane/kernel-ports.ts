/**
 * What the kernel says about bridges and their ports, for the L2 guard: whether bridge-family
 * rules can match a frame's bridge (`meta ibrname`), and which ports belong to bridges netlet
 * does not manage (allowed through untouched when the bridge cannot be matched).
 */
import type { Exec } from "../sys/exec.ts";

/** True when the kernel accepts `meta ibrname` (CONFIG_NFT_BRIDGE_META); checked with `nft -c`, nothing is loaded. */
export async function probeBridgeMeta(exec: Exec): Promise<boolean> {
  const probe = 'table bridge netlet-probe {\n chain c {\n  meta ibrname "netlet-probe" accept\n }\n}\n';
  const r = await exec(["nft", "-c", "-f", "-"], probe);
  return r.code === 0;
}

/** Ports enslaved to a bridge that is not one of `managed`, from `ip -j link show`. */
export function foreignPortsOf(linksJson: string, managed: readonly string[]): string[] {
  let links: { ifname: string; master?: string }[];
  try {
    links = JSON.parse(linksJson);
  } catch {
    return [];
  }
  const ours = new Set(managed);
  return links
    .filter((l) => l.master && !ours.has(l.master))
    .map((l) => l.ifname)
    .sort();
}

export async function readForeignPorts(exec: Exec, managed: readonly string[]): Promise<string[]> {
  const r = await exec(["ip", "-j", "link", "show"]);
  return r.code === 0 ? foreignPortsOf(r.stdout, managed) : [];
}
