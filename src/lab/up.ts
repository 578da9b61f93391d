/**
 * `netlet lab up`: the seed's multi_host FlatDHCP picture in namespaces. An underlay namespace
 * is the switch: bridge `under0` joins the hosts (each running the real agent) and an "internet"
 * namespace behind public_interface; bridge `flat` is the shared flat segment, on which each
 * host's `flat0` (flat_interface, enslaved to br100 by netlet) sits — with `--vxlan`, VXLAN over
 * the underlay replaces it. One DHCP network; instances booted through the CLI; VM namespaces
 * wired to the hosts' bridges with the instances' MACs that configure themselves as guests do
 * (DHCP client, SLAAC, metadata); a VM on the first host pings a VM on every other host; a
 * floating IP associated and reached from the internet namespace. With `--guests qemu` the VMs
 * are real QEMU guests plugged by qemu-ifup instead (qemu-vms.ts).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  LAB_DIR,
  LAB_PREFIX,
  labDown,
  labNamespaces,
  ns,
  saveState,
  type LabHost,
  type LabState,
  type LabUpOptions,
  type LabVm,
} from "./lab.ts";
import { netlet, selfArgv, startAgent, waitForAgent, waitForNetwork, waitForPlug } from "./agents.ts";
import {
  dhcp,
  enableSlaac,
  ensureTools,
  ipv6Routers,
  metadataInstanceId,
  pings,
  slaacAddress,
  udhcpcScript,
} from "./guests.ts";
import { keygen } from "../cluster/keyring.ts";
import { FLAT_IF, addNs, makeNetworks } from "./topology.ts";
import { GUEST_CACHE, guestImage, readGuests, startQemu } from "./qemu-vms.ts";

/** Floating IPs come from this part of the underlay. */
const FLOATING_RANGE = "10.254.0.128/28";

/** The VM's veth into br100; returns the host-side end (the VIF's port). */
function attachVm(vm: LabVm, host: LabHost, index: number): string {
  addNs(vm.ns);
  const hostIf = `nlv${index}`;
  ns(host.ns, ["ip", "link", "add", hostIf, "type", "veth", "peer", "name", "eth0"]);
  ns(host.ns, ["ip", "link", "set", "eth0", "netns", vm.ns]);
  ns(vm.ns, ["ip", "link", "set", "eth0", "address", vm.mac]);
  ns(host.ns, ["ip", "link", "set", hostIf, "master", "br100", "up"]);
  ns(vm.ns, ["ip", "link", "set", "eth0", "up"]);
  return hostIf;
}

type Image = { kernel: string; initrd: string } | null;

async function bootVms(state: LabState, opts: LabUpOptions, image: Image, say: (s: string) => void): Promise<void> {
  let n = 0;
  for (const h of state.hosts) {
    for (let j = 0; j < opts.vms; j++) {
      n += 1;
      const name = `vm${n}`;
      const inst = JSON.parse(netlet(h, ["boot", name, "--network", "private", "--json"]).out);
      const vif = inst.ports[0];
      const vm: LabVm = {
        name,
        ns: `${LAB_PREFIX}${name}`,
        host: h.name,
        mac: vif.mac,
        fixedIp: vif.address,
        ipv6: vif.address_v6,
        floatingIp: null,
        leased: null,
        dhcpServer: null,
        routers: [],
        metadata: null,
        guest: opts.guests ?? "netns",
        uuid: inst.uuid,
      };
      if (image) {
        // A real guest: QEMU in the host's namespace; its ifup script bridges and plugs the tap.
        startQemu(vm, h, image, selfArgv());
        vm.ns = h.ns;
        state.vms.push(vm);
        saveState(state);
        await waitForPlug(h, vm);
        say(
          `      ${name} on ${h.name}: QEMU pid ${vm.pid}, MAC ${vm.mac}, fixed IP ${vm.fixedIp}, plugged as ${vm.port} (qemu-ifup)`,
        );
        continue;
      }
      // As a hypervisor does: create the guest's port, then declare it (netlet binds its rules to
      // declared ports only; the plug returns once they are applied).
      const port = attachVm(vm, h, n);
      netlet(h, ["plug", name, "--port", port]);
      vm.port = port;
      if (opts.ipv6) enableSlaac(vm);
      state.vms.push(vm);
      saveState(state);
      say(`      ${name} on ${h.name}: MAC ${vm.mac}, fixed IP ${vm.fixedIp}, plugged as ${port}`);
    }
  }
}

async function configureGuests(state: LabState, opts: LabUpOptions): Promise<void> {
  // Real guests configure themselves; what they got is on their consoles.
  if (opts.guests === "qemu") return readGuests(state.vms);
  const script = udhcpcScript();
  for (const vm of state.vms) {
    const lease = dhcp(vm, script);
    vm.leased = lease.address;
    vm.dhcpServer = lease.serverId;
  }
  // SLAAC runs in every VM's kernel at once: wait for all of them together.
  if (opts.ipv6) {
    const addrs = await Promise.all(state.vms.map((vm) => slaacAddress(vm)));
    for (const [i, vm] of state.vms.entries()) {
      vm.ipv6 = addrs[i];
      vm.routers = ipv6Routers(vm);
    }
  }
  for (const vm of state.vms) vm.metadata = metadataInstanceId(vm);
}

/** The seed's first step: let ICMP and SSH into the default group, then reach a floating IP. */
async function floatingIp(state: LabState): Promise<void> {
  const h = state.hosts[0];
  const vm = state.vms.find((v) => v.host === h.name);
  if (!vm) return;
  netlet(h, ["secgroup-add-rule", "default", "icmp", "-1", "-1", "0.0.0.0/0"]);
  netlet(h, ["secgroup-add-rule", "default", "tcp", "22", "22", "0.0.0.0/0"]);
  netlet(h, ["floating", "create", "--pool", "nova", "--ip_range", FLOATING_RANGE]);
  const fip = JSON.parse(netlet(h, ["floating-ip-create", "nova", "--json"]).out);
  netlet(h, ["floating-ip-associate", vm.name, fip.address]);
  vm.floatingIp = fip.address;
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && !state.floatingReachable) {
    state.floatingReachable =
      ns(state.internetNs!, ["ping", "-c", "1", "-W", "1", fip.address], { check: false }).code === 0;
  }
}

/** A VM of the first host pings one VM of every other host, by fixed IPv4 and (dual-stack) IPv6. */
function crossHost(state: LabState, opts: LabUpOptions): void {
  const first = state.hosts[0];
  const from = state.vms.find((v) => v.host === first.name);
  state.crossHost = [];
  // A QEMU guest has no namespace to run ping in: the floating IP check reaches it instead.
  if (!from || opts.guests === "qemu") return;
  for (const h of state.hosts.slice(1)) {
    const to = state.vms.find((v) => v.host === h.name);
    if (!to) continue;
    for (const address of [to.fixedIp, opts.ipv6 ? to.ipv6 : null]) {
      if (address) state.crossHost.push({ from: from.name, to: to.name, address, ok: pings(from, address) });
    }
  }
}

export async function labUp(opts: LabUpOptions, say: (s: string) => void): Promise<LabState> {
  ensureTools(say, opts.guests === "qemu");
  if (labNamespaces().length) {
    say("removing the previous lab first");
    await labDown();
  }
  // Before anything runs, so a failed image build leaves nothing to clean up.
  let image: Image = null;
  if (opts.guests === "qemu") {
    say(
      `QEMU guests (TCG): the tiny guest image, built from Debian packages at first use and cached under ${GUEST_CACHE}`,
    );
    image = guestImage();
  }
  mkdirSync(LAB_DIR, { recursive: true });
  const hosts: LabHost[] = Array.from({ length: opts.hosts }, (_, i) => {
    const name = `host${i + 1}`;
    const dir = join(LAB_DIR, name);
    return {
      name,
      ns: `${LAB_PREFIX}${name}`,
      underlayIp: `10.254.0.${11 + i}`,
      socket: join(dir, "netlet.sock"),
      config: join(dir, "netlet.conf"),
      stateDir: dir,
      pid: null,
    };
  });
  const state: LabState = {
    segment: opts.vxlan ? "vxlan" : "flat",
    binary: selfArgv().join(" "),
    hosts,
    vms: [],
    underlayNs: `${LAB_PREFIX}underlay`,
    internetNs: `${LAB_PREFIX}internet`,
    floatingReachable: false,
  };
  saveState(state);
  say(
    `[1/6] underlay switch (${opts.vxlan ? "VXLAN between the hosts" : `flat segment: ${FLAT_IF} of each host`}), internet namespace and ${opts.hosts} host namespace(s)`,
  );
  makeNetworks(state, hosts, opts);
  saveState(state);
  say(`[2/6] starting the agents${opts.hosts > 1 ? ", joined into one encrypted cluster" : ""}`);
  const key = keygen();
  for (const h of hosts) startAgent(h, hosts, opts, key);
  saveState(state);
  for (const h of hosts) await waitForAgent(h);
  say(
    `[3/6] network private (10.0.0.0/24${opts.ipv6 ? ", fd00:10::/64" : ""}) and ${opts.vms * opts.hosts} instance(s) through the CLI`,
  );
  const v6 = opts.ipv6 ? ["--fixed-range-v6", "fd00:10::/64"] : [];
  const vx = opts.vxlan ? ["--vxlan", "100"] : [];
  // Created once, on the first host: the cluster carries it to the others.
  netlet(hosts[0], [
    "network-create",
    "private",
    "--fixed-range-v4",
    "10.0.0.0/24",
    "--bridge",
    "br100",
    "--multi-host",
    "T",
    ...v6,
    ...vx,
  ]);
  for (const h of hosts) await waitForNetwork(h);
  await bootVms(state, opts, image, say);
  say(
    `[4/6] guests configure themselves: DHCP${opts.ipv6 && opts.guests !== "qemu" ? ", SLAAC" : ""}, metadata through 169.254.169.254${opts.guests === "qemu" ? " (read from their consoles)" : ""}`,
  );
  await configureGuests(state, opts);
  say("[5/6] default group allows ICMP and SSH; floating IP from pool nova, pinged from the internet namespace");
  await floatingIp(state);
  saveState(state);
  if (opts.hosts > 1 && opts.guests !== "qemu")
    say(
      `[6/6] cross-host: a VM on ${hosts[0].name} pings a VM on every other host${opts.ipv6 ? " (IPv4 and IPv6)" : ""}`,
    );
  crossHost(state, opts);
  saveState(state);
  return state;
}
