/**
 * A Debian 12 (bookworm) cloud-init guest image for benches, built once from Debian packages and cached:
 * debootstrap (minbase + the cloud kernel, systemd, cloud-init, openssh, ifupdown), a few cloud.cfg fixes,
 * then an ext4 disk made with `mke2fs -d` (no loop mount) and the kernel + initrd copied out for QEMU's
 * `-kernel/-initrd` (no bootloader). The root and the disk are renamed into place only when complete,
 * so an interrupted build starts that step again.
 * Run alone: bun bench/guests/debian-image.ts [cache-dir]
 */
import { copyFileSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const MIRROR = process.env.NETLET_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";
const PACKAGES = [
  "linux-image-cloud-amd64",
  "initramfs-tools",
  "systemd-sysv",
  "udev",
  "cloud-init",
  // cloud-init's python3-cryptography needs the cffi backend; debootstrap does not resolve the virtual package.
  "python3-cffi-backend",
  "openssh-server",
  "ifupdown",
  "isc-dhcp-client",
  "iproute2",
  "iputils-ping",
  "sudo",
];
// cloud-init on Debian renders ifupdown config; the locale module must not ask locale-gen for en_US.
const CLOUD_CFG = `# netlet bench guest\nlocale: C.UTF-8\ndatasource_list: [ OpenStack, None ]\n`;

/** Bump when configure() changes what goes into the image. */
const RECIPE_VERSION = 1;
/** One directory per recipe: a changed package list or cloud.cfg builds a new image beside the old one. */
const recipe = new Bun.CryptoHasher("sha256")
  .update(JSON.stringify([RECIPE_VERSION, MIRROR, PACKAGES, CLOUD_CFG]))
  .digest("hex")
  .slice(0, 10);
export const DEBIAN_CACHE = join(
  process.env.NETLET_BENCH_CACHE ?? "/var/cache/netlet-bench",
  `debian12-cloudinit-${recipe}`,
);

export interface DebianImage {
  disk: string;
  kernel: string;
  initrd: string;
}

const sh = (cmd: string[], what: string): void => {
  const p = Bun.spawnSync(cmd, { stdout: "inherit", stderr: "inherit" });
  if (p.exitCode !== 0) throw new Error(`${what} failed (exit ${p.exitCode}): ${cmd.join(" ")}`);
};

const ensureTools = (): void => {
  const need: string[] = [];
  if (!Bun.which("debootstrap")) need.push("debootstrap");
  if (!Bun.which("qemu-system-x86_64")) need.push("qemu-system-x86");
  if (!Bun.which("mke2fs")) need.push("e2fsprogs");
  if (!Bun.which("ssh")) need.push("openssh-client");
  if (need.length) sh(["apt-get", "install", "-y", "--no-install-recommends", ...need], "apt-get install");
};

/**
 * Remove a half-built root. debootstrap mounts /proc, /sys (and sometimes /dev) inside it and
 * unmounts them on exit, but not when killed: never recurse into a mount left behind.
 */
export const removePartial = (dir: string): void => {
  const under = () =>
    readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[1] ?? "")
      .filter((m) => m === dir || m.startsWith(`${dir}/`))
      .sort((a, b) => b.length - a.length);
  for (const m of under()) Bun.spawnSync(["umount", "-l", m]);
  const left = under();
  if (left.length) throw new Error(`${dir} still has mounts (${left.join(", ")}); unmount them, then run again`);
  rmSync(dir, { recursive: true, force: true });
};

const debootstrap = (root: string): void => {
  const tmp = `${root}.partial`;
  removePartial(tmp);
  console.error(`building the Debian 12 root in ${tmp} (debootstrap, several minutes)`);
  sh(["debootstrap", "--variant=minbase", `--include=${PACKAGES.join(",")}`, "bookworm", tmp, MIRROR], "debootstrap");
  renameSync(tmp, root);
};

const configure = (root: string): void => {
  // The host's resolv.conf was copied in; the guest must take its resolver from DHCP.
  writeFileSync(join(root, "etc/resolv.conf"), "");
  writeFileSync(join(root, "etc/hostname"), "localhost\n");
  writeFileSync(join(root, "etc/fstab"), "/dev/vda / ext4 defaults 0 1\n");
  writeFileSync(join(root, "etc/cloud/cloud.cfg.d/90-netlet-bench.cfg"), CLOUD_CFG);
  // Only the cloud-init network config; a stale host-side file would configure the NIC twice.
  writeFileSync(
    join(root, "etc/network/interfaces"),
    "auto lo\niface lo inet loopback\nsource /etc/network/interfaces.d/*\n",
  );
  rmSync(join(root, "var/cache/apt/archives"), { recursive: true, force: true });
  rmSync(join(root, "var/lib/apt/lists"), { recursive: true, force: true });
};

const bootFile = (root: string, prefix: string): string => {
  const f = readdirSync(join(root, "boot"))
    .filter((n) => n.startsWith(prefix))
    .sort()
    .at(-1);
  if (!f) throw new Error(`no ${prefix}* in ${root}/boot`);
  return join(root, "boot", f);
};

/** Builds what is missing and returns the cached image; safe to call on every run. */
export const debianImage = (cache = DEBIAN_CACHE): DebianImage => {
  const root = join(cache, "root");
  const img: DebianImage = {
    disk: join(cache, "disk.img"),
    kernel: join(cache, "vmlinuz"),
    initrd: join(cache, "initrd.img"),
  };
  if (existsSync(img.disk) && existsSync(img.kernel) && existsSync(img.initrd)) return img;
  ensureTools();
  sh(["mkdir", "-p", cache], "mkdir");
  if (!existsSync(root)) debootstrap(root);
  configure(root);
  copyFileSync(bootFile(root, "vmlinuz-"), img.kernel);
  copyFileSync(bootFile(root, "initrd.img-"), img.initrd);
  const tmp = `${img.disk}.partial`;
  rmSync(tmp, { force: true });
  sh(["mke2fs", "-q", "-t", "ext4", "-L", "root", "-d", root, tmp, "3G"], "mke2fs");
  renameSync(tmp, img.disk);
  return img;
};

/**
 * QEMU for one boot of the image: TCG, 1 vCPU, 1 GB, nova's SMBIOS identity (cloud-init's ds-identify
 * needs the product name), the serial console to a file, the tap made and handed to the tap scripts.
 * `-snapshot` keeps the cached disk pristine, so every boot is a first boot.
 */
export function qemuArgv(o: {
  image: DebianImage;
  name: string;
  uuid: string;
  mac: string;
  consoleLog: string;
  ifup: string;
  ifdown: string;
}): string[] {
  const tap = `tap${o.uuid.slice(0, 8)}-0`;
  return [
    ["qemu-system-x86_64", "-name", o.name, "-M", "pc", "-accel", "tcg", "-m", "1024", "-smp", "1"],
    ["-display", "none", "-monitor", "none", "-no-reboot", "-serial", `file:${o.consoleLog}`],
    ["-kernel", o.image.kernel, "-initrd", o.image.initrd, "-append", "root=/dev/vda ro console=ttyS0"],
    ["-drive", `file=${o.image.disk},if=virtio,format=raw`, "-snapshot"],
    ["-smbios", `type=1,manufacturer=OpenStack Foundation,product=OpenStack Nova,serial=${o.uuid}`],
    ["-netdev", `tap,id=n0,ifname=${tap},script=${o.ifup},downscript=${o.ifdown}`],
    ["-device", `virtio-net-pci,netdev=n0,mac=${o.mac}`],
  ].flat();
}

if (import.meta.main) console.log(debianImage(process.argv[2]));
