/**
 * What a lab VM does at boot, the way a real guest does it: a DHCP client (busybox udhcpc), the
 * kernel's SLAAC for IPv6, and an HTTP GET of its metadata through 169.254.169.254.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { LAB_DIR, ns, sh, type LabVm } from "./lab.ts";

/** Tools the lab runs; on Debian they come from these packages. */
const TOOLS: Record<string, string> = {
  ip: "iproute2",
  nft: "nftables",
  busybox: "busybox",
  curl: "curl",
  ping: "iputils-ping",
};
/** And for QEMU guests (the image is built from Debian packages with apt-get download and dpkg-deb). */
const QEMU_TOOLS: Record<string, string> = { "qemu-system-x86_64": "qemu-system-x86", cpio: "cpio", gzip: "gzip" };

/** Install missing tools with apt-get (the lab runs as root on Debian); fail naming them otherwise. */
export function ensureTools(say: (s: string) => void, qemu = false): void {
  const tools = { ...TOOLS, ...(qemu ? QEMU_TOOLS : {}) };
  const missing = Object.keys(tools).filter((t) => sh(["sh", "-c", `command -v ${t}`], { check: false }).code !== 0);
  if (!missing.length) return;
  const pkgs = missing.map((t) => tools[t]);
  if (sh(["sh", "-c", "command -v apt-get"], { check: false }).code !== 0) {
    throw new Error(`the lab needs ${missing.join(", ")}: install the packages ${pkgs.join(" ")}`);
  }
  say(`installing ${pkgs.join(" ")} (apt-get)`);
  sh(["apt-get", "install", "-y", "-qq", ...pkgs]);
}

const UDHCPC_SCRIPT = `#!/bin/sh
# Configures what the lease carries, as a guest's network scripts would.
case "$1" in
  deconfig) ip addr flush dev "$interface" scope global; ip link set "$interface" up ;;
  bound|renew)
    echo "lease: serverid=$serverid"
    ip addr flush dev "$interface" scope global
    ip addr add "$ip/\${mask:-24}" dev "$interface"
    [ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
    set -- $staticroutes
    while [ $# -ge 2 ]; do ip route replace "$1" via "$2" dev "$interface"; shift 2; done
    [ -z "$staticroutes" ] && [ -n "$router" ] && ip route replace default via "\${router%% *}" dev "$interface"
    ;;
esac
exit 0
`;

export function udhcpcScript(): string {
  const path = join(LAB_DIR, "udhcpc.sh");
  writeFileSync(path, UDHCPC_SCRIPT, { mode: 0o755 });
  return path;
}

/**
 * Run one DHCP exchange; returns the address the VM holds afterwards (or null) and the server
 * identifier of the lease it got in this exchange (null when none came).
 */
export function dhcp(vm: LabVm, script: string): { address: string | null; serverId: string | null } {
  const r = ns(
    vm.ns,
    [
      "busybox",
      "udhcpc",
      "-i",
      "eth0",
      "-n",
      "-q",
      "-t",
      "5",
      "-T",
      "1",
      "-s",
      script,
      "-O",
      "staticroutes",
      "-O",
      "mtu",
      "-O",
      "search",
    ],
    { check: false },
  );
  const sid = /^lease: serverid=(\d+\.\d+\.\d+\.\d+)$/m.exec(r.out);
  const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(
    ns(vm.ns, ["ip", "-4", "addr", "show", "dev", "eth0"], { check: false }).out,
  );
  return { address: m ? m[1] : null, serverId: sid ? sid[1] : null };
}

/** The IPv6 default routers the VM's kernel learned from RAs (their link-local addresses). */
export function ipv6Routers(vm: LabVm): string[] {
  const r = ns(vm.ns, ["ip", "-6", "-j", "route", "show", "default", "dev", "eth0"], { check: false });
  if (r.code !== 0 || !r.out.trim()) return [];
  const routes = JSON.parse(r.out) as { gateway?: string; nexthops?: { gateway?: string }[] }[];
  return [
    ...new Set(
      routes.flatMap((x) => [x.gateway, ...(x.nexthops ?? []).map((h) => h.gateway)]).filter((g): g is string => !!g),
    ),
  ].sort();
}

/** Ping `to` from the VM (IPv4 or IPv6 by the address); a few tries, as the first ARP/ND may be slow. */
export function pings(vm: LabVm, to: string, tries = 3): boolean {
  for (let i = 0; i < tries; i++) {
    if (ns(vm.ns, ["ping", "-c", "1", "-W", "2", to], { check: false }).code === 0) return true;
  }
  return false;
}

/** Let the kernel do SLAAC on eth0 (accept RAs although forwarding is off in the VM). */
export function enableSlaac(vm: LabVm): void {
  ns(vm.ns, ["sysctl", "-qw", "net.ipv6.conf.eth0.accept_ra=1", "net.ipv6.conf.eth0.autoconf=1"], { check: false });
}

export async function slaacAddress(vm: LabVm, timeoutMs = 20000): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const m = /inet6 ([0-9a-f:]+)\/64 scope global/.exec(
      ns(vm.ns, ["ip", "-6", "addr", "show", "dev", "eth0"], { check: false }).out,
    );
    if (m && !/tentative/.test(m[0])) return m[1];
    await Bun.sleep(200);
  }
  return null;
}

/** The instance-id the metadata service returns to this VM (proves DNAT + identity). */
export function metadataInstanceId(vm: LabVm): string | null {
  const r = ns(vm.ns, ["curl", "-s", "-m", "3", "http://169.254.169.254/latest/meta-data/instance-id"], {
    check: false,
  });
  return r.code === 0 && /^i-[0-9a-f]{8}$/.test(r.out.trim()) ? r.out.trim() : null;
}
