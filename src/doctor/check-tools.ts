/** Checks of the programs and kernel features netlet drives: nft (or iptables), iproute2, link kinds. */
import type { CheckResult, DoctorTarget, HostFacts, KindFact } from "./types.ts";

/** "nftables v1.0.6 (Lester Gooch #5)" → [1, 0, 6]; null when there is no version in it. */
export function parseNftVersion(text: string): number[] | null {
  const m = /v(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

/** Why `nft list tables` failed, and the matching fix. */
function nftListFix(stderr: string): string {
  if (/not permitted|permission denied/i.test(stderr))
    return "run netlet doctor (and the agent) as root or with CAP_NET_ADMIN";
  return "load nf_tables (modprobe nf_tables; the kernel needs CONFIG_NF_TABLES, CONFIG_NF_TABLES_INET, CONFIG_NF_TABLES_BRIDGE and CONFIG_NFT_NAT)";
}

/** What nft programs under each driver (anti-spoofing stays in the nft bridge table under iptables). */
const NFT_USE: Record<DoctorTarget["firewallDriver"], string> = {
  nftables: "NAT, security groups and anti-spoofing",
  iptables: "anti-spoofing (the bridge table)",
  noop: "NAT",
};

function checkIptables(f: HostFacts): CheckResult {
  const missing = ["iptables-restore", "ip6tables-restore"].filter((x) => !f.tools[x]);
  if (missing.length) {
    return {
      id: "iptables",
      status: "fail",
      summary: `firewall_driver = iptables but ${missing.join(" and ")} is not installed`,
      fix: "apt-get install iptables (or set firewall_driver = nftables)",
    };
  }
  return {
    id: "iptables",
    status: "ok",
    summary: "firewall_driver = iptables: iptables-restore and ip6tables-restore are installed",
  };
}

export function checkNftables(f: HostFacts, t: DoctorTarget): CheckResult[] {
  const out: CheckResult[] = t.firewallDriver === "iptables" ? [checkIptables(f)] : [];
  if (!f.nftVersion) {
    return [
      ...out,
      {
        id: "nftables",
        status: "fail",
        summary: `nft is not installed; with firewall_driver = ${t.firewallDriver} netlet programs ${NFT_USE[t.firewallDriver]} through it`,
        fix: "apt-get install nftables",
      },
    ];
  }
  const text = `${f.nftVersion.stdout}${f.nftVersion.stderr}`.trim();
  const v = parseNftVersion(text);
  if (!v)
    out.push({
      id: "nft-version",
      status: "warn",
      summary: `cannot read the nft version from "${text.slice(0, 80)}"`,
      fix: "check that `nft --version` prints nftables v1.0 or later",
    });
  else if (v[0] < 1)
    out.push({
      id: "nft-version",
      status: "fail",
      summary: `nft ${v.join(".")} is older than 1.0; netlet's rulesets use nft 1.0 syntax`,
      fix: "upgrade nftables to 1.0 or later (Debian 12 ships 1.0.6)",
    });
  else out.push({ id: "nft-version", status: "ok", summary: `nft ${v.join(".")} (1.0 or later)` });
  const list = f.nftList;
  if (!list || list.code !== 0) {
    const err = (list?.stderr ?? "").trim().split("\n")[0] || `exit ${list?.code ?? "?"}`;
    out.push({
      id: "nf_tables",
      status: "fail",
      summary: `\`nft list tables\` failed: ${err}`,
      fix: nftListFix(list?.stderr ?? ""),
    });
  } else {
    out.push({ id: "nf_tables", status: "ok", summary: "nf_tables is usable (`nft list tables` works)" });
  }
  return out;
}

export function checkIproute2(f: HostFacts, t: DoctorTarget): CheckResult[] {
  const out: CheckResult[] = [];
  if (!f.ipVersion)
    return [
      {
        id: "iproute2",
        status: "fail",
        summary: "ip (iproute2) is not installed; netlet plumbs bridges, addresses and routes with it",
        fix: "apt-get install iproute2",
      },
    ];
  const version = /iproute2-([\w.]+)/.exec(f.ipVersion.stdout + f.ipVersion.stderr)?.[1] ?? "unknown version";
  if (!f.ipJson || f.ipJson.code !== 0) {
    out.push({
      id: "iproute2",
      status: "fail",
      summary: `iproute2 ${version} cannot print JSON (\`ip -j link show\` failed); netlet reads links through it`,
      fix: "upgrade iproute2 (4.14 or later)",
    });
  } else {
    out.push({ id: "iproute2", status: "ok", summary: `iproute2 ${version} with JSON output` });
  }
  const need = [
    {
      tool: "bridge",
      status: "fail",
      wanted: true,
      why: "reads VXLAN flood entries and VM ports with it (bridge fdb)",
      fix: "apt-get install iproute2",
    },
    {
      tool: "sysctl",
      status: "fail",
      wanted: true,
      why: "sets ip_forward and bridge-nf-call-* with it",
      fix: "apt-get install procps",
    },
    {
      tool: "conntrack",
      status: "warn",
      wanted: true,
      why: "flushes a floating IP's connections with it when the IP moves",
      fix: "apt-get install conntrack",
    },
    {
      tool: "arping",
      status: "warn",
      wanted: t.sendArpForHa,
      why: "sends gratuitous ARP for floating IPs with it (send_arp_for_ha = true)",
      fix: "apt-get install iputils-arping",
    },
  ] as const;
  const missing = need.filter((n) => n.wanted && !f.tools[n.tool]);
  for (const n of missing)
    out.push({
      id: `tool-${n.tool}`,
      status: n.status,
      summary: `${n.tool} is not installed: netlet ${n.why}`,
      fix: n.fix,
    });
  if (!missing.length)
    out.push({
      id: "tools",
      status: "ok",
      summary: `helper programs present: ${need
        .filter((n) => n.wanted)
        .map((n) => n.tool)
        .join(", ")}`,
    });
  return out;
}

const KIND_NEED: Record<"bridge" | "veth" | "vxlan", { status: "fail" | "warn"; why: string; config: string }> = {
  bridge: { status: "fail", why: "every network is a Linux bridge", config: "CONFIG_BRIDGE" },
  veth: { status: "warn", why: "`netlet lab` attaches its VMs with veth pairs", config: "CONFIG_VETH" },
  vxlan: { status: "warn", why: "networks created with --vxlan need it", config: "CONFIG_VXLAN" },
};

function kindCheck(kind: "bridge" | "veth" | "vxlan", k: KindFact): CheckResult {
  const need = KIND_NEED[kind];
  const id = `kernel-${kind}`;
  switch (k.state) {
    case "loaded":
    case "builtin":
      return { id, status: "ok", summary: `${kind} devices: the kernel has them (${k.state})` };
    case "module":
      return { id, status: "ok", summary: `${kind} devices: available as a module, loaded on first use` };
    case "created":
      return {
        id,
        status: "ok",
        summary: `${kind} devices: a test device in a temporary namespace was created and deleted`,
      };
    case "unknown":
      return {
        id,
        status: "warn",
        summary: `${kind} devices: could not tell whether the kernel has them${k.detail ? ` (${k.detail})` : ""}`,
        fix: "run netlet doctor as root",
      };
    case "missing":
      return {
        id,
        status: need.status,
        summary: `${kind} devices cannot be created${k.detail ? ` (${k.detail})` : ""}; ${need.why}`,
        fix: `modprobe ${kind}, or use a kernel built with ${need.config}`,
      };
  }
}

export function checkKernelKinds(f: HostFacts): CheckResult[] {
  return (["bridge", "veth", "vxlan"] as const).map((k) => kindCheck(k, f.kinds[k]));
}
