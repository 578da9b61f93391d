/** The lab's agents: how each is started in its host namespace, and how the lab calls it. */
import { mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sh, type LabHost, type LabUpOptions, type LabVm } from "./lab.ts";
import { hostConfig } from "./topology.ts";

/** How to run this same netlet: the compiled binary itself, or bun + the entry script. */
export function selfArgv(): string[] {
  return Bun.main.startsWith("/$bunfs/") ? [process.execPath] : [process.execPath, Bun.main];
}

export function netlet(host: LabHost, args: string[], check = true) {
  return sh([...selfArgv(), ...args, "--socket", host.socket], { check });
}

export async function waitForNetwork(h: LabHost, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = netlet(h, ["network-list", "--json"], false);
    if (r.code === 0 && JSON.parse(r.out).some((n: { label: string }) => n.label === "private")) return;
    await Bun.sleep(100);
  }
  throw new Error(
    `network private did not reach ${h.name} within ${timeoutMs} ms; see ${join(h.stateDir, "agent.log")}`,
  );
}

export async function waitForAgent(h: LabHost, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (netlet(h, ["status", "--json"], false).code === 0) return;
    await Bun.sleep(100);
  }
  throw new Error(
    `the agent of ${h.name} did not answer on ${h.socket} within ${timeoutMs} ms; see ${join(h.stateDir, "agent.log")}`,
  );
}

export function startAgent(h: LabHost, peers: LabHost[], opts: LabUpOptions, key: string): void {
  mkdirSync(h.stateDir, { recursive: true });
  writeFileSync(h.config, hostConfig(h, peers, opts));
  writeFileSync(join(h.stateDir, "cluster.keys"), `${key}\n`, { mode: 0o600 });
  const logFd = openSync(join(h.stateDir, "agent.log"), "a");
  const p = Bun.spawn(
    ["ip", "netns", "exec", h.ns, ...selfArgv(), "agent", "--config", h.config, "--socket", h.socket],
    {
      stdin: "ignore",
      stdout: logFd,
      stderr: logFd,
    },
  );
  p.unref();
  h.pid = p.pid;
}

/** Until the host's agent shows the VM's port declared (QEMU's ifup script does it). */
export async function waitForPlug(h: LabHost, vm: LabVm, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = netlet(h, ["show", vm.name, "--json"], false);
    if (r.code === 0 && JSON.parse(r.out).ports[0]?.port === vm.port) return;
    await Bun.sleep(100);
  }
  throw new Error(
    `QEMU of ${vm.name} did not plug ${vm.port} within ${timeoutMs} ms; see ${join(h.stateDir, `${vm.name}.qemu.log`)}`,
  );
}
