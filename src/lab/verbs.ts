/** lab up|down|status|exec. */
import { UsageError } from "../cli/errors.ts";
import { table } from "../cli/table.ts";
import { intOpt, print, type Verb } from "../cli/verb.ts";
import { labDown, labNamespaces, loadState, type LabState } from "./lab.ts";
import { labUp } from "./up.ts";

function labTable(s: LabState): string {
  const hosts = table(["host", "namespace", "underlay IP", "agent pid"], s.hosts.map((h) => [h.name, h.ns, h.underlayIp, h.pid]));
  const vms = table(["VM", "host", "MAC", "fixed IP", "IPv6", "floating IP", "lease", "metadata"],
    s.vms.map((v) => [v.name, v.host, v.mac, v.fixedIp, v.ipv6 ?? "-", v.floatingIp ?? "-", v.leased ? `leased ${v.leased}` : "none", v.metadata ? `ok (${v.metadata})` : "unreachable"]));
  const fip = s.vms.find((v) => v.floatingIp);
  const reach = fip ? `\nfloating IP ${fip.floatingIp} (${fip.name}) from the internet namespace: ${s.floatingReachable ? "answers ping" : "NO ANSWER"}` : "";
  const hint = fip && s.internetNs ? `${reach}\ntry: ip netns exec ${s.internetNs} ping -c 1 ${fip.floatingIp}    (floating IP of ${fip.name})\n     netlet lab exec ${fip.name} -- curl -s http://169.254.169.254/openstack/latest/meta_data.json` : "";
  return `${hosts}\n${vms}${hint}`;
}

export const labVerbs: Verb[] = [
  {
    name: "lab up",
    summary: "Build a multi_host cloud in network namespaces on this machine (needs root).",
    options: {
      hosts: { type: "string", arg: "N", help: "host namespaces, each running an agent, joined into one cluster (default 2)" },
      vms: { type: "string", arg: "M", help: "VM namespaces per host (default 2)" },
      ipv6: { type: "boolean", help: "dual-stack network (SLAAC)" },
      vxlan: { type: "boolean", help: "join hosts with VXLAN instead of a shared flat uplink" },
    },
    read: true,
    async run(ctx) {
      const hosts = intOpt(ctx, "hosts", 1, 8) ?? 2;
      const vms = intOpt(ctx, "vms", 0, 16) ?? 2;
      const state = await labUp({ hosts, vms, ipv6: !!ctx.opts.ipv6, vxlan: !!ctx.opts.vxlan }, (s) => process.stderr.write(`${s}\n`));
      print(ctx, state, () => labTable(state));
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
        ctx.out(labNamespaces().length ? "no lab state, but lab namespaces exist: run `netlet lab down`" : "no lab is running");
        return;
      }
      print(ctx, s, () => labTable(s));
    },
  },
  {
    name: "lab exec",
    summary: "Run a command inside a lab VM or host namespace: netlet lab exec vm1 -- ip addr.",
    args: ["NAME", "CMD..."],
    async run(ctx) {
      const s = loadState();
      const [name, ...cmd] = ctx.args;
      const target = s?.vms.find((v) => v.name === name)?.ns ?? s?.hosts.find((h) => h.name === name)?.ns;
      if (!target) throw new UsageError(`no lab VM or host named ${name}; see \`netlet lab status\``);
      if (cmd.length === 0) throw new UsageError("lab exec: missing CMD (netlet lab exec NAME -- CMD ...)");
      const p = Bun.spawnSync(["ip", "netns", "exec", target, ...cmd], { stdio: ["inherit", "inherit", "inherit"] });
      if (p.exitCode !== 0) process.exitCode = p.exitCode ?? 1;
    },
  },
];
