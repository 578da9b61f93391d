/**
 * A tiny real guest for QEMU and libvirt: Debian's cloud kernel and an initramfs of
 * busybox-static whose /init loads virtio-net, runs udhcpc and fetches the OpenStack metadata
 * with wget, printing what it got on the serial console between NETLET-GUEST markers.
 * Built from Debian packages at first use (apt-get download) and cached; never shipped.
 */
import { spawnSync } from "bun";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
  copyFileSync,
  symlinkSync,
} from "node:fs";
import { join } from "node:path";

// In dependency order (modinfo -F depends): insmod resolves nothing by itself.
const MODULES = [
  "virtio_ring",
  "virtio",
  "virtio_pci_legacy_dev",
  "virtio_pci_modern_dev",
  "virtio_pci",
  "failover",
  "net_failover",
  "virtio_net",
];

const INIT = `#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in ${MODULES.join(" ")}; do insmod /lib/modules/$m.ko; done
ip link set lo up
i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
ip link set eth0 up
echo "NETLET-GUEST up mac=$(cat /sys/class/net/eth0/address)"
echo "NETLET-GUEST smbios product=$(cat /sys/class/dmi/id/product_name) serial=$(cat /sys/class/dmi/id/product_serial)"
# Guest uptimes (seconds) around DHCP and the metadata fetch: netlet's share of a start, apart from the boot.
t() { echo "NETLET-GUEST t-$1=$(cut -d' ' -f1 /proc/uptime)"; }
t dhcp-start
udhcpc -i eth0 -s /udhcpc.sh -t 60 -T 1 -A 1 -n -O staticroutes || echo "NETLET-GUEST no-lease"
t dhcp-done
# (busybox 1.35's wget -T crashes: the timeout applet bounds it instead)
echo "NETLET-GUEST meta-begin"; timeout 10 wget -q -O - http://169.254.169.254/openstack/latest/meta_data.json; echo; echo "NETLET-GUEST meta-end"
t meta-done
echo "NETLET-GUEST instance-id=$(timeout 10 wget -q -O - http://169.254.169.254/latest/meta-data/instance-id)"
echo "NETLET-GUEST userdata-begin"; timeout 10 wget -q -O - http://169.254.169.254/openstack/latest/user_data; echo; echo "NETLET-GUEST userdata-end"
# Stay up and ping the router every 0.2 s, so a test can count what the guest lost and when.
router=$(ip route | awk '/^default/ {print $3}')
while true; do ping -i 0.2 "$router" 2>&1 | while read -r l; do echo "NETLET-GUEST ping $l"; done; sleep 1; done
`;

const UDHCPC = `#!/bin/sh
case "$1" in bound|renew)
  ip addr flush dev "$interface" scope global; ip addr add "$ip/$mask" dev "$interface"
  [ -n "$router" ] && ip route replace default via "$router" dev "$interface"
  set -- $staticroutes; while [ $# -ge 2 ]; do ip route replace "$1" via "$2" dev "$interface"; shift 2; done
  echo "NETLET-GUEST lease ip=$ip router=$router hostname=$hostname serverid=$serverid" ;;
esac
`;

function sh(argv: string[], cwd?: string): string {
  const r = spawnSync(argv, { cwd, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0)
    throw new Error(`${argv.join(" ")} exited ${r.exitCode}: ${r.stderr.toString().trim().slice(-500)}`);
  return r.stdout.toString();
}

/** Paths of the kernel and initramfs cached under `cache`, building them first when missing. */
export function tinyGuestImage(cache: string): { kernel: string; initrd: string } {
  // Named after what goes into the image, so a changed /init never boots a stale cached one.
  const dir = join(cache, `tiny-guest-${Bun.hash(INIT + UDHCPC + MODULES.join()).toString(36)}`);
  const kernel = join(dir, "vmlinuz");
  const initrd = join(dir, "initrd.img");
  if (existsSync(kernel) && existsSync(initrd)) return { kernel, initrd };
  mkdirSync(dir, { recursive: true });
  // Built beside the cache, so the final renames never cross filesystems.
  const work = mkdtempSync(join(cache, ".build-"));
  try {
    const kpkg = /Depends: (linux-image-\S+)/.exec(sh(["apt-cache", "depends", "linux-image-cloud-amd64"]))?.[1];
    if (!kpkg)
      throw new Error("apt-cache depends linux-image-cloud-amd64 names no kernel package (run apt-get update)");
    chmodSync(work, 0o755); // apt's _apt user writes the download here
    sh(["apt-get", "download", "-q", kpkg, "busybox-static"], work);
    const ex = join(work, "x");
    for (const deb of readdirSync(work).filter((f) => f.endsWith(".deb"))) sh(["dpkg-deb", "-x", join(work, deb), ex]);
    const root = join(work, "initramfs");
    for (const d of ["bin", "proc", "sys", "dev", "tmp", "lib/modules"]) mkdirSync(join(root, d), { recursive: true });
    copyFileSync(join(ex, "bin", "busybox"), join(root, "bin", "busybox"));
    symlinkSync("busybox", join(root, "bin", "sh"));
    const kver = readdirSync(join(ex, "lib", "modules"))[0];
    const found = sh(["find", join(ex, "lib", "modules", kver, "kernel"), "-name", "*.ko"]).split("\n");
    for (const m of MODULES) {
      const path = found.find((f) => f.endsWith(`/${m}.ko`));
      if (!path) throw new Error(`module ${m}.ko is not in ${kpkg}`);
      copyFileSync(path, join(root, "lib", "modules", `${m}.ko`));
    }
    writeFileSync(join(root, "init"), INIT, { mode: 0o755 });
    writeFileSync(join(root, "udhcpc.sh"), UDHCPC, { mode: 0o755 });
    sh(["sh", "-c", `find . | cpio -o -H newc --quiet | gzip -1 > ${join(work, "initrd.img")}`], root);
    copyFileSync(join(ex, "boot", `vmlinuz-${kver}`), join(work, "vmlinuz"));
    // Rename last, so a build interrupted half-way is never mistaken for a cached image.
    renameSync(join(work, "initrd.img"), initrd);
    renameSync(join(work, "vmlinuz"), kernel);
    return { kernel, initrd };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
