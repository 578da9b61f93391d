/**
 * `netlet lab up`: underlay bridge, host namespaces each running the real agent, a flat DHCP
 * network, instances booted through the CLI and VM namespaces wired to the hosts' bridges with
 * the instances' MACs. Progress goes to `say`; the result is the saved LabState.
 */
import { mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LAB_DIR, LAB_PREFIX, labDown, labNamespaces, ns, saveState, sh, type LabHost, type LabState, type LabVm } from "./lab.ts";

export interface LabUpOptions {
  hosts: number;
  vms: number;
  ipv6: boolean;
  vxlan: boolean;
}

/** How to run this same netlet: the compiled binary itself, or bun + the entry script. */
export function selfArgv(): string[] {
  return Bun.main.startsWith("/$bunfs/") ? [process.execPath] : [process.execPath, Bun.main];
}

export function netlet(host: LabHost, args: string[], check = true) {
  return sh([...selfArgv(), ...args, "--socket", host.socket], { check });
}

function hostConfig(h: LabHost, peers: LabHost[]): string {
  return [
    "[DEFAULT]",
    `host = ${h.name}`,
    `my_ip = ${h.underlayIp}`,
    `state_path = ${h.stateDir}`,
    "public_interface = under0",
    "flat_network_bridge = br100",
    "multi_host = true",
    "",
    "[cluster]",
    `bind = ${h.underlayIp}:7946`,
    `join = ${peers.filter((p) => p !== h).map((p) => `${p.underlayIp}:7946`).join(",")}`,
    "",
  ].join("\n");
}

async function waitForAgent(h: LabHost, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (netlet(h, ["status", "--json"], false).code === 0) return;
    await Bun.sleep(100);
  }
  throw new Error(`the agent of ${h.name} did not answer on ${h.socket} within ${timeoutMs} ms; see ${join(h.stateDir, "agent.log")}`);
}

function makeUnderlay(state: LabState, hosts: LabHost[]): void {
  sh(["ip", "netns", "add", state.underlayNs]);
  ns(state.underlayNs, ["ip", "link", "set", "lo", "up"]);
  ns(state.underlayNs, ["ip", "link", "add", "under0", "type", "bridge", "forward_delay", "0", "stp_state", "0"]);
  ns(state.underlayNs, ["ip", "link", "set", "under0", "up"]);
  for (const [i, h] of hosts.entries()) {
    sh(["ip", "netns", "add", h.ns]);
    ns(h.ns, ["ip", "link", "set", "lo", "up"]);
    const peer = `nlu${i + 1}`;
    ns(h.ns, ["ip", "link", "add", "under0", "type", "veth", "peer", "name", peer]);
    ns(h.ns, ["ip", "link", "set", peer, "netns", state.underlayNs]);
    ns(state.underlayNs, ["ip", "link", "set", peer, "master", "under0", "up"]);
    ns(h.ns, ["ip", "addr", "add", `${h.underlayIp}/24`, "dev", "under0"]);
    ns(h.ns, ["ip", "link", "set", "under0", "up"]);
    ns(h.ns, ["ip", "link", "add", "br100", "type", "bridge", "forward_delay", "0", "stp_state", "0"]);
    ns(h.ns, ["ip", "link", "set", "br100", "up"]);
  }
}

function startAgent(h: LabHost, peers: LabHost[]): void {
  mkdirSync(h.stateDir, { recursive: true });
  writeFileSync(h.config, hostConfig(h, peers));
  const logFd = openSync(join(h.stateDir, "agent.log"), "a");
  const p = Bun.spawn(["ip", "netns", "exec", h.ns, ...selfArgv(), "agent", "--config", h.config, "--socket", h.socket], {
    stdin: "ignore", stdout: logFd, stderr: logFd,
  });
  p.unref();
  h.pid = p.pid;
}

function attachVm(state: LabState, vm: LabVm, host: LabHost, index: number): void {
  sh(["ip", "netns", "add", vm.ns]);
  ns(vm.ns, ["ip", "link", "set", "lo", "up"]);
  const hostIf = `nlv${index}`;
  ns(host.ns, ["ip", "link", "add", hostIf, "type", "veth", "peer", "name", "eth0"]);
  ns(host.ns, ["ip", "link", "set", "eth0", "netns", vm.ns]);
  ns(vm.ns, ["ip", "link", "set", "eth0", "address", vm.mac]);
  ns(host.ns, ["ip", "link", "set", hostIf, "master", "br100", "up"]);
  ns(vm.ns, ["ip", "link", "set", "eth0", "up"]);
  state.vms.push(vm);
}

export async function labUp(opts: LabUpOptions, say: (s: string) => void): Promise<LabState> {
  if (labNamespaces().length) {
    say("removing the previous lab first");
    await labDown();
  }
  mkdirSync(LAB_DIR, { recursive: true });
  const hosts: LabHost[] = Array.from({ length: opts.hosts }, (_, i) => {
    const name = `host${i + 1}`;
    const dir = join(LAB_DIR, name);
    return { name, ns: `${LAB_PREFIX}${name}`, underlayIp: `10.254.0.${11 + i}`, socket: join(dir, "netlet.sock"), config: join(dir, "netlet.conf"), stateDir: dir, pid: null };
  });
  const state: LabState = { hosts, vms: [], underlayNs: `${LAB_PREFIX}underlay`, internetNs: null };
  saveState(state);
  say(`[1/4] underlay bridge and ${opts.hosts} host namespace(s)`);
  makeUnderlay(state, hosts);
  saveState(state);
  say("[2/4] starting the agents");
  for (const h of hosts) startAgent(h, hosts);
  saveState(state);
  for (const h of hosts) await waitForAgent(h);
  say("[3/4] creating network private (10.0.0.0/24) and booting instances through the CLI");
  const v6 = opts.ipv6 ? ["--fixed-range-v6", "fd00:10::/64"] : [];
  for (const h of hosts) {
    // Until the cluster replicates admin writes, each host gets the network from the CLI itself.
    netlet(h, ["network-create", "private", "--fixed-range-v4", "10.0.0.0/24", "--bridge", "br100", "--multi-host", "T", ...v6]);
  }
  let n = 0;
  for (const h of hosts) {
    for (let j = 0; j < opts.vms; j++) {
      n += 1;
      const name = `vm${n}`;
      const inst = JSON.parse(netlet(h, ["boot", name, "--network", "private", "--json"]).out);
      const port = inst.ports[0];
      attachVm(state, { name, ns: `${LAB_PREFIX}${name}`, host: h.name, mac: port.mac, fixedIp: port.address, ipv6: port.addressV6, floatingIp: null }, h, n);
      saveState(state);
    }
  }
  say("[4/4] lab ready");
  return state;
}
