/** lab up|down|status|exec. */
import { RuntimeError, UsageError } from "../errors.ts";
import { table } from "../table.ts";
import { intOpt, print, strOpt, type Verb } from "../verb.ts";
import { labDown, labNamespaces, loadState, type LabState, type LabVm } from "../../lab/lab.ts";
import { guestFailures } from "../../lab/qemu-vms.ts";
import { labUp } from "../../lab/up.ts";

function leaseText(v: LabVm): string {
  if (!v.leased) return "none";
  return v.dhcpServer ? `leased ${v.leased} from ${v.dhcpServer}` : `leased ${v.leased}`;
}

/** Cross-host pings, one line per check; empty for a one-host lab. */
function crossHostText(s: LabState): string {
  return (s.crossHost ?? [])
    .map((c) => `\ncross-host: ${c.from} -> ${c.to} ${c.address}: ${c.ok ? "answers ping" : "NO ANSWER"}`)
    .join("");
}

function labTable(s: LabState): string {
  const hosts = table(
    ["host", "namespace", "underlay IP", "agent pid"],
    s.hosts.map((h) => [h.name, h.ns, h.underlayIp, h.pid]),
  );
  const v6 = s.vms.some((v) => v.routers?.length);
  // Cross-host reachability next to lease and metadata: did the first host's VM reach this one?
  const from = s.crossHost?.[0]?.from;
  const reached = (v: LabVm) =>
    (s.crossHost ?? [])
      .filter((c) => c.to === v.name)
      .map((c) => `${c.ok ? "ok" : "NO ANSWER"} (${c.address.includes(":") ? "IPv6" : "IPv4"})`)
      .join(", ") || "-";
  const qemu = s.vms.filter((v) => v.guest === "qemu");
  const vms = table(
    [
      "VM",
      "host",
      ...(qemu.length ? ["QEMU pid", "port"] : []),
      "MAC",
      "fixed IP",
      "IPv6",
      "floating IP",
      "lease",
      ...(v6 ? ["IPv6 routers"] : []),
      "metadata",
      ...(from ? [`ping from ${from}`] : []),
    ],
    s.vms.map((v) => [
      v.name,
      v.host,
      ...(qemu.length ? [v.pid ?? "-", v.port ?? "-"] : []),
      v.mac,
      v.fixedIp,
      v.ipv6 ?? "-",
      v.floatingIp ?? "-",
      leaseText(v),
      ...(v6 ? [(v.routers ?? []).join(" ") || "none"] : []),
      v.metadata ? `ok (${v.metadata})` : "unreachable",
      ...(from ? [reached(v)] : []),
    ]),
  );
  const consoles = qemu.length
    ? `
QEMU guests (TCG); lease and metadata as printed on their serial consoles: ${qemu.map((v) => v.console).join(" ")}`
    : "";
  const fip = s.vms.find((v) => v.floatingIp);
  const reach = fip
    ? `\nfloating IP ${fip.floatingIp} (${fip.name}) from the internet namespace: ${s.floatingReachable ? "answers ping" : "NO ANSWER"}`
    : "";
  const inside =
    fip?.guest === "qemu"
      ? `tail -f ${fip.console}    (console of ${fip.name})`
      : `netlet lab exec ${fip?.name} -- curl -s http://169.254.169.254/openstack/latest/meta_data.json`;
  const tryIt =
    fip && s.internetNs
      ? `\ntry: ip netns exec ${s.internetNs} ping -c 1 ${fip.floatingIp}    (floating IP of ${fip.name})\n     ${inside}`
      : "";
  const use = s.hosts.length
    ? `\nnetlet: ${s.binary ?? "netlet"}\nexport NETLET_SOCKET=${s.hosts[0].socket}    (the agent of ${s.hosts[0].name}; netlet list, netlet status)`
    : "";
  return `${hosts}\n${vms}${consoles}${reach}${crossHostText(s)}${tryIt}${use}`;
}

/** What of the lab does not hold, one reason per line (empty when it all works). */
function failures(s: LabState): string[] {
  const out = (s.crossHost ?? [])
    .filter((c) => !c.ok)
    .map((c) => `${c.from} cannot reach ${c.to} at ${c.address} across hosts`);
  out.push(...guestFailures(s.vms));
  if (out.length) out.push("see each host's agent.log and `netlet status` there; `netlet lab down` removes the lab");
  return out;
}

export const labVerbs: Verb[] = [
  {
    name: "lab up",
    summary: "Build a multi_host cloud in network namespaces on this machine (needs root).",
    options: {
      hosts: {
        type: "string",
        arg: "N",
        help: "host namespaces, each running an agent, joined into one cluster (default 2)",
      },
      vms: { type: "string", arg: "M", help: "VM namespaces per host (default 2)" },
      ipv6: { type: "boolean", help: "dual-stack network (SLAAC)" },
      vxlan: {
        type: "boolean",
        help: "join the hosts' bridges with VXLAN instead of the flat segment (flat_interface on a switch)",
      },
      "share-dhcp-address": {
        type: "boolean",
        help: "every host uses the network's gateway address (share_dhcp_address)",
      },
      guests: {
        type: "string",
        arg: "netns|qemu",
        help: "netns (default, fast): VMs are network namespaces; qemu: real QEMU guests (TCG, a tiny image built from Debian packages at first use)",
      },
    },
    read: true,
    async run(ctx) {
      const hosts = intOpt(ctx, "hosts", 1, 8) ?? 2;
      const vms = intOpt(ctx, "vms", 0, 16) ?? 2;
      const guests = strOpt(ctx, "guests") ?? "netns";
      if (guests !== "netns" && guests !== "qemu") throw new UsageError(`--guests ${guests}: expected netns or qemu`);
      const state = await labUp(
        {
          hosts,
          vms,
          ipv6: !!ctx.opts.ipv6,
          vxlan: !!ctx.opts.vxlan,
          shareDhcpAddress: !!ctx.opts["share-dhcp-address"],
          guests,
        },
        (s) => process.stderr.write(`${s}\n`),
      );
      print(ctx, state, () => labTable(state));
      const bad = failures(state);
      if (bad.length) throw new RuntimeError(`lab up: ${bad.join("; ")}`);
    },
  },
  {
    name: "lab down",
    summary: "Remove every lab namespace and process (also after a crash of lab up).",
    async run(ctx) {
      await labDown((s) => ctx.out(s));
      ctx.out("lab removed");
    },
  },
  {
    name: "lab status",
    summary: "Show the lab's hosts and VMs.",
    read: true,
    async run(ctx) {
      const s = loadState();
      if (!s) {
        const left = labNamespaces();
        if (ctx.json) print(ctx, { running: false, leftoverNamespaces: left }, () => "");
        else
          ctx.out(left.length ? "no lab state, but lab namespaces exist: run `netlet lab down`" : "no lab is running");
        return;
      }
      print(ctx, s, () => labTable(s));
    },
  },
  {
    name: "lab exec",
    summary:
      "Run a command inside a lab VM or host namespace (netlet lab exec vm1 -- ip addr); without CMD, a shell there.",
    args: ["NAME", "CMD..."],
    async run(ctx) {
      const s = loadState();
      const [name, ...cmd] = ctx.args;
      const vm = s?.vms.find((v) => v.name === name);
      if (vm?.guest === "qemu")
        throw new UsageError(
          `${name} is a QEMU guest, with no namespace to enter: its serial console is logged in ${vm.console}`,
        );
      const target = s?.vms.find((v) => v.name === name)?.ns ?? s?.hosts.find((h) => h.name === name)?.ns;
      if (!target) throw new UsageError(`no lab VM or host named ${name}; see \`netlet lab status\``);
      if (cmd.length === 0) {
        // An interactive shell in the namespace, as `ip netns exec NS` with no command would not give.
        cmd.push(process.env.SHELL || "/bin/sh");
        process.stderr.write(`shell in ${name} (namespace ${target}); exit to leave\n`);
      }
      const p = Bun.spawnSync(["ip", "netns", "exec", target, ...cmd], { stdio: ["inherit", "inherit", "inherit"] });
      if (p.exitCode !== 0) process.exitCode = p.exitCode ?? 1;
    },
  },
];
