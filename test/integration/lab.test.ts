/** `netlet lab up` / `lab down`: the walking skeleton, and that nothing is left behind. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { existsSync, readFileSync } from "node:fs";
import { requireNetns, run, uniqueName, waitFor } from "../harness/netns.ts";

/** Running, and not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  return existsSync(stat) && !/^\d+ \(.*\) Z/.test(readFileSync(stat, "utf8"));
}
import { netletBinary } from "../harness/binary.ts";

describe.skipIf(!requireNetns())("netlet lab", () => {
  const env = { NETLET_LAB_DIR: mkdtempSync(join(tmpdir(), "netlet-lab-")), NETLET_LAB_PREFIX: `${uniqueName("tl")}-` };
  const lab = (...args: (string | { input: string })[]) => {
    const input = args.find((a) => typeof a !== "string") as { input: string } | undefined;
    // `lab exec` without a command runs $SHELL: make it a plain shell reading the test's input.
    return run([netletBinary(), "lab", ...args.filter((a): a is string => typeof a === "string")], {
      check: false,
      input: input?.input,
      env: { ...env, SHELL: "/bin/sh" },
    });
  };
  const mine = () =>
    run(["ip", "netns", "list"])
      .stdout.split("\n")
      .filter((l) => l.startsWith(env.NETLET_LAB_PREFIX));
  afterAll(() => lab("down"));

  test("lab up (the README's main job): a 2-host cluster whose four VMs get leases and metadata from netlet, the floating IP answers the internet namespace; lab down removes all", async () => {
    const up = lab("up", "--json");
    expect(up.code).toBe(0);
    const state = JSON.parse(up.stdout);
    expect(state.hosts).toHaveLength(2);
    expect(state.vms.map((v: { host: string }) => v.host)).toEqual(["host1", "host1", "host2", "host2"]);
    expect(mine()).toHaveLength(8);
    for (const vm of state.vms) {
      const mac = run(["ip", "netns", "exec", vm.ns, "cat", "/sys/class/net/eth0/address"]).stdout.trim();
      expect(mac).toBe(vm.mac);
      // Each VM's veth is declared as its VIF's port, as a hypervisor plugs a tap.
      const host = state.hosts.find((h: { name: string }) => h.name === vm.host);
      const shown = JSON.parse(run([netletBinary(), "show", vm.name, "--json", "--socket", host.socket]).stdout);
      expect(shown.ports[0].port).toBe(vm.port);
      expect(run(["ip", "netns", "exec", host.ns, "ip", "-br", "link", "show", "master", "br100"]).stdout).toContain(
        vm.port,
      );
      // IPv4-only flat segment: the lease came from the VM's own host (its first address on br100).
      const br = JSON.parse(
        run(["ip", "netns", "exec", host.ns, "ip", "-j", "-4", "addr", "show", "dev", "br100"]).stdout,
      );
      expect(vm.dhcp_server).toBe(br[0].addr_info[0].local);
      expect(vm.fixed_ip).toMatch(/^10\.0\.0\.\d+$/);
      // The guest's own DHCP client got its fixed IP from netlet, and it read its own instance-id.
      expect(vm.leased).toBe(vm.fixed_ip);
      expect(vm.metadata).toMatch(/^i-[0-9a-f]{8}$/);
    }
    expect(new Set(state.vms.map((v: { metadata: string }) => v.metadata)).size).toBe(4);
    expect(new Set(state.vms.map((v: { fixed_ip: string }) => v.fixed_ip)).size).toBe(4);
    expect(new Set(state.vms.map((v: { dhcp_server: string }) => v.dhcp_server)).size).toBe(2);
    expect(state.vms[0].floating_ip).toMatch(/^10\.254\.0\.\d+$/);
    expect(state.floating_reachable).toBe(true);
    // The seed's topology: both br100s share the flat segment, so vm1 on host1 reaches host2's VMs.
    expect(state.segment).toBe("flat");
    expect(state.cross_host).toEqual([{ from: "vm1", to: "vm3", address: state.vms[2].fixed_ip, ok: true }]);
    expect(
      run(["ip", "netns", "exec", state.hosts[1].ns, "ip", "-br", "link", "show", "master", "br100"]).stdout,
    ).toContain("flat0");
    // What the Quick start needs: the socket to export and the binary.
    const text = lab("status").stdout;
    expect(text).toContain(`export NETLET_SOCKET=${state.hosts[0].socket}`);
    expect(text).toContain(`netlet: ${netletBinary()}`);
    expect(text).toContain("cross-host: vm1 -> vm3");
    expect(lab("exec", "vm1", { input: "cat /sys/class/net/eth0/address\n" }).stdout.trim()).toBe(state.vms[0].mac);
    const exec = lab("exec", "host1", "--", "ip", "-br", "link", "show", "br100");
    expect(exec.code).toBe(0);
    // `netlet status` on a host shows its instances leased, their metadata read, and its peer.
    const status = JSON.parse(run([netletBinary(), "status", "--json", "--socket", state.hosts[0].socket]).stdout);
    expect(status.instances.map((i: { lease: string }) => i.lease)).toEqual(["leased", "leased"]);
    expect(status.peers.map((p: { id: string; state: string }) => [p.id, p.state])).toEqual([["host2", "alive"]]);
    expect(status.instances.every((i: { metadata_last_seen: number | null }) => i.metadata_last_seen !== null)).toBe(
      true,
    );
    expect(status.networks[0]).toMatchObject({ label: "private", bridge: "br100", dhcp: "serving" });
    expect(status.dataplane.last_apply).not.toBeNull();
    const pids = state.hosts.map((h: { pid: number }) => h.pid);
    for (const pid of pids) expect(alive(pid)).toBe(true);
    expect(lab("down").code).toBe(0);
    expect(mine()).toEqual([]);
    expect(JSON.parse(lab("status", "--json").stdout)).toEqual({ running: false, leftover_namespaces: [] });
    expect(await waitFor(() => pids.every((pid: number) => !alive(pid)), 3000)).toBe(true);
  }, 90_000);

  test("lab down also cleans up after a crashed lab up (namespaces without state)", () => {
    const orphan = `${env.NETLET_LAB_PREFIX}host1`;
    run(["ip", "netns", "add", orphan]);
    expect(lab("down").code).toBe(0);
    expect(mine()).toEqual([]);
  });
});
