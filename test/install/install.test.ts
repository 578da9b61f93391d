/**
 * install.sh against the real release binary, served from dist/ by a loopback HTTP server that
 * this test starts, into temporary DESTDIR roots (never the live system: with DESTDIR set the
 * installer does not call systemctl).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dir, "..", "..");
const arch = process.arch === "arm64" ? "arm64" : "x64";
const NAME = `netlet-linux-${arch}`;
const work = mkdtempSync(join(tmpdir(), "netlet-install-test-"));
const served = join(work, "served");
const tmp = join(work, "tmp");
let server: ReturnType<typeof Bun.serve>;
let base = "";
const requests: string[] = [];

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** The release binary and its checksum, built when dist/ lacks them. */
function ensureRelease(): void {
  const bin = join(root, "dist", NAME);
  if (existsSync(bin) && existsSync(`${bin}.sha256`)) return;
  const r = Bun.spawnSync([process.execPath, join(root, "build.ts"), "--release"], {
    cwd: root,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (r.exitCode !== 0) throw new Error(`bun build.ts --release failed: ${r.stderr.toString()}`);
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs install.sh. Asynchronous on purpose: the HTTP server lives in this process's event loop. */
async function sh(args: string[], opts: { destdir?: string; baseUrl?: string; path?: string } = {}): Promise<Run> {
  const env: Record<string, string> = {
    PATH: opts.path ?? process.env.PATH ?? "/usr/bin:/bin",
    TMPDIR: tmp,
    HOME: work,
  };
  if (opts.destdir !== undefined) env.DESTDIR = opts.destdir;
  if (opts.baseUrl !== undefined) env.NETLET_BASE_URL = opts.baseUrl;
  // dash: /bin/sh on Debian, and strict about POSIX.
  const p = Bun.spawn(["dash", join(root, "install.sh"), ...args], {
    env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { code, stdout, stderr };
}

function newRoot(): string {
  return mkdtempSync(join(work, "root-"));
}

/** Every file under dir, relative. */
function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

beforeAll(() => {
  ensureRelease();
  mkdirSync(join(served, "good"), { recursive: true });
  mkdirSync(join(served, "bad"), { recursive: true });
  mkdirSync(join(served, "nosum"), { recursive: true });
  mkdirSync(tmp);
  // Copies, so another build rewriting dist/ mid-test cannot pair a binary with a stale sum.
  const bin = join(root, "dist", NAME);
  copyFileSync(bin, join(served, "good", NAME));
  copyFileSync(`${bin}.sha256`, join(served, "good", `${NAME}.sha256`));
  copyFileSync(bin, join(served, "bad", NAME));
  writeFileSync(join(served, "bad", `${NAME}.sha256`), `${"0".repeat(64)}  ${NAME}\n`);
  copyFileSync(bin, join(served, "nosum", NAME));
  copyFileSync(join(root, "install.sh"), join(served, "install.sh"));
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      requests.push(path);
      const file = join(served, path);
      if (path.includes("..") || !existsSync(file) || statSync(file).isDirectory())
        return new Response("not found", { status: 404 });
      return new Response(Bun.file(file));
    },
  });
  base = `http://127.0.0.1:${server.port}`;
}, 120_000);

afterAll(() => {
  server?.stop(true);
  rmSync(work, { recursive: true, force: true });
});

describe("install.sh", () => {
  test("the release checksum file names the binary and matches it", async () => {
    const sum = readFileSync(join(served, "good", `${NAME}.sha256`), "utf8");
    expect(sum).toBe(`${sha256(join(served, "good", NAME))}  ${NAME}\n`);
  });

  test("installs binary, config and unit from NETLET_BASE_URL; a second run changes nothing", async () => {
    const dest = newRoot();
    const r = await sh([], { destdir: dest, baseUrl: `${base}/good` });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(requests).toContain(`/good/${NAME}`);
    expect(requests).toContain(`/good/${NAME}.sha256`);
    expect(r.stdout).toContain("checksum ok");

    const bin = join(dest, "usr/local/bin/netlet");
    expect(statSync(bin).mode & 0o777).toBe(0o755);
    const v = Bun.spawnSync([bin, "--version"]);
    expect(v.exitCode).toBe(0);
    expect(v.stdout.toString()).toMatch(/^netlet \d+\.\d+\.\d+/);

    const sample = Bun.spawnSync([bin, "config", "sample"]).stdout.toString();
    expect(readFileSync(join(dest, "etc/netlet/netlet.conf"), "utf8")).toBe(sample);
    // The unit written for the default prefix is the one kept in packaging/.
    const unit = readFileSync(join(dest, "etc/systemd/system/netlet.service"), "utf8");
    expect(unit).toBe(readFileSync(join(root, "packaging/netlet.service"), "utf8"));
    for (const line of [
      "Type=simple",
      "ExecStart=/usr/local/bin/netlet agent",
      "ExecStop=-/usr/local/bin/netlet agent-stop",
      "Restart=on-failure",
      "StateDirectory=netlet",
      "RuntimeDirectory=netlet",
      "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE",
      "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE",
    ])
      expect(unit.split("\n")).toContain(line);
    expect(unit).toMatch(/^LimitNOFILE=\d+$/m);

    const before = files(dest).map((f) => [f, statSync(join(dest, f)).mtimeMs]);
    const again = await sh([], { destdir: dest, baseUrl: `${base}/good` });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("nothing changed");
    expect(again.stdout).not.toContain("installed ");
    expect(files(dest).map((f) => [f, statSync(join(dest, f)).mtimeMs])).toEqual(before);
    expect(readdirSync(tmp)).toEqual([]);
  }, 60_000);

  test("curl | sh: the script read from a pipe installs from NETLET_BASE_URL", async () => {
    const dest = newRoot();
    const script = `curl -fsS ${base}/install.sh | sh -s -- --prefix /opt/nl`;
    const p = Bun.spawn(["sh", "-c", script], {
      env: { PATH: process.env.PATH ?? "", TMPDIR: tmp, DESTDIR: dest, NETLET_BASE_URL: `${base}/good` },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([
      new Response(p.stdout).text(),
      new Response(p.stderr).text(),
      p.exited,
    ]);
    expect(err).toBe("");
    expect(code).toBe(0);
    expect(out).toContain("checksum ok");
    expect(Bun.spawnSync([join(dest, "opt/nl/bin/netlet"), "--version"]).exitCode).toBe(0);
  }, 60_000);

  test("systemd accepts the unit", async () => {
    const which = Bun.spawnSync(["sh", "-c", "command -v systemd-analyze"]);
    if (which.exitCode !== 0) return;
    const dir = mkdtempSync(join(work, "unit-"));
    // verify wants ExecStart and ExecStop to exist: point them at the release binary.
    const unit = readFileSync(join(root, "packaging/netlet.service"), "utf8").replaceAll(
      "/usr/local/bin/netlet",
      join(served, "good", NAME),
    );
    chmodSync(join(served, "good", NAME), 0o755);
    writeFileSync(join(dir, "netlet.service"), unit);
    const r = Bun.spawnSync(["systemd-analyze", "verify", join(dir, "netlet.service")], {
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });

  test("an existing configuration file is kept", async () => {
    const dest = newRoot();
    mkdirSync(join(dest, "etc/netlet"), { recursive: true });
    writeFileSync(join(dest, "etc/netlet/netlet.conf"), "[DEFAULT]\nmy_ip = 192.0.2.10\n");
    const r = await sh([], { destdir: dest, baseUrl: `${base}/good` });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("kept as it is");
    expect(readFileSync(join(dest, "etc/netlet/netlet.conf"), "utf8")).toBe("[DEFAULT]\nmy_ip = 192.0.2.10\n");
  }, 60_000);

  test("a tampered checksum is refused and nothing is installed", async () => {
    const dest = newRoot();
    const r = await sh([], { destdir: dest, baseUrl: `${base}/bad` });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `checksum mismatch for ${NAME}: expected ${"0".repeat(64)}, got ${sha256(join(served, "bad", NAME))}; nothing installed`,
    );
    expect(files(dest)).toEqual([]);
    expect(readdirSync(tmp)).toEqual([]);
  }, 60_000);

  test("a missing checksum file is refused", async () => {
    const dest = newRoot();
    const r = await sh([], { destdir: dest, baseUrl: `${base}/nosum` });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("refusing an unverified binary");
    expect(files(dest)).toEqual([]);
  }, 60_000);

  test("without NETLET_BASE_URL or --from it says what to set", async () => {
    const r = await sh([], { destdir: newRoot() });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("set NETLET_BASE_URL");
  });

  test("--from installs a local file, verifying FILE.sha256 next to it", async () => {
    const dir = mkdtempSync(join(work, "from-"));
    const file = join(dir, NAME);
    copyFileSync(join(served, "good", NAME), file);
    copyFileSync(join(served, "good", `${NAME}.sha256`), `${file}.sha256`);
    const dest = newRoot();
    const r = await sh(["--from", file], { destdir: dest });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("checksum ok");
    expect(sha256(join(dest, "usr/local/bin/netlet"))).toBe(sha256(file));

    writeFileSync(`${file}.sha256`, `${"f".repeat(64)}  ${NAME}\n`);
    const bad = await sh(["--from", file], { destdir: newRoot() });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("checksum mismatch");

    rmSync(`${file}.sha256`);
    const dest2 = newRoot();
    const unverified = await sh(["--from", file], { destdir: dest2 });
    expect(unverified.code).toBe(0);
    expect(unverified.stdout).toContain("installing it unverified");
    expect(existsSync(join(dest2, "usr/local/bin/netlet"))).toBe(true);
  }, 60_000);

  test("--prefix moves the binary and the unit's ExecStart", async () => {
    const dest = newRoot();
    const r = await sh(["--prefix", "/opt/netlet", "--from", join(served, "good", NAME)], { destdir: dest });
    expect(r.code).toBe(0);
    expect(existsSync(join(dest, "opt/netlet/bin/netlet"))).toBe(true);
    expect(readFileSync(join(dest, "etc/systemd/system/netlet.service"), "utf8")).toContain(
      "ExecStart=/opt/netlet/bin/netlet agent\n",
    );
  }, 60_000);

  test("--uninstall keeps configuration and state; --purge removes them", async () => {
    const dest = newRoot();
    expect((await sh([], { destdir: dest, baseUrl: `${base}/good` })).code).toBe(0);
    mkdirSync(join(dest, "var/lib/netlet"), { recursive: true });
    writeFileSync(join(dest, "var/lib/netlet/netlet.db"), "state");

    const u = await sh(["--uninstall"], { destdir: dest });
    expect(u.code).toBe(0);
    expect(existsSync(join(dest, "usr/local/bin/netlet"))).toBe(false);
    expect(existsSync(join(dest, "etc/systemd/system/netlet.service"))).toBe(false);
    expect(files(dest)).toEqual(["etc/netlet/netlet.conf", "var/lib/netlet/netlet.db"]);
    expect(u.stdout).toContain("--purge removes it");

    const again = await sh(["--uninstall"], { destdir: dest });
    expect(again.code).toBe(0);

    const p = await sh(["--uninstall", "--purge"], { destdir: dest });
    expect(p.code).toBe(0);
    expect(files(dest)).toEqual([]);
    expect(existsSync(join(dest, "etc/netlet"))).toBe(false);
    expect(existsSync(join(dest, "var/lib/netlet"))).toBe(false);
    expect((await sh(["--uninstall"], { destdir: dest })).stdout).toContain("nothing changed");
  }, 60_000);

  test("libvirt present: the installer names --libvirt-hook; with it the hook is installed, chaining the existing one, and --uninstall restores it", async () => {
    const dest = newRoot();
    mkdirSync(join(dest, "etc/libvirt/hooks"), { recursive: true });
    writeFileSync(join(dest, "etc/libvirt/hooks/qemu"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const plain = await sh([], { destdir: dest, baseUrl: `${base}/good` });
    expect(plain.stdout).toContain("libvirt is present: run install.sh --libvirt-hook");
    expect(readFileSync(join(dest, "etc/libvirt/hooks/qemu"), "utf8")).toBe("#!/bin/sh\nexit 0\n");

    const r = await sh(["--libvirt-hook"], { destdir: dest, baseUrl: `${base}/good` });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`libvirt: kept the existing hook as ${dest}/etc/libvirt/hooks/qemu.pre-netlet`);
    const hook = readFileSync(join(dest, "etc/libvirt/hooks/qemu"), "utf8");
    expect(hook).toContain("exec '/usr/local/bin/netlet' libvirt hook --socket '/run/netlet/netlet.sock'");
    expect((await sh(["--libvirt-hook"], { destdir: dest, baseUrl: `${base}/good` })).stdout).toContain(
      "nothing changed",
    );

    expect((await sh(["--uninstall"], { destdir: dest })).code).toBe(0);
    expect(readFileSync(join(dest, "etc/libvirt/hooks/qemu"), "utf8")).toBe("#!/bin/sh\nexit 0\n");
    expect(existsSync(join(dest, "etc/libvirt/hooks/qemu.pre-netlet"))).toBe(false);
  }, 60_000);

  test("refuses other operating systems and unknown architectures", async () => {
    const fake = (s: string, m: string) => {
      const dir = mkdtempSync(join(work, "bin-"));
      writeFileSync(join(dir, "uname"), `#!/bin/sh\ncase $1 in -s) echo ${s};; -m) echo ${m};; esac\n`);
      chmodSync(join(dir, "uname"), 0o755);
      return `${dir}:${process.env.PATH}`;
    };
    const mac = await sh(["--from", join(served, "good", NAME)], { destdir: newRoot(), path: fake("Darwin", "arm64") });
    expect(mac.code).toBe(1);
    expect(mac.stderr).toContain("netlet runs on Linux only; this system is Darwin");
    const dest = newRoot();
    const riscv = await sh(["--from", join(served, "good", NAME)], { destdir: dest, path: fake("Linux", "riscv64") });
    expect(riscv.code).toBe(1);
    expect(riscv.stderr).toContain("no netlet build for architecture riscv64");
    expect(files(dest)).toEqual([]);
  });

  test("--help and bad arguments", async () => {
    const h = await sh(["--help"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain("usage: install.sh");
    const bad = await sh(["--frobnicate"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('unknown argument "--frobnicate"');
    expect((await sh(["--purge"])).stderr).toContain("--purge goes with --uninstall");
  });
});
