import { afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "bun";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CHAINED, installHook, type InstallOptions } from "../../src/libvirt/install.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(): InstallOptions & { out: string } {
  const d = mkdtempSync(join(tmpdir(), "netlet-hooks-"));
  dirs.push(d);
  // A stand-in netlet that records its arguments and stdin: what the installed script runs.
  const out = join(d, "calls");
  writeFileSync(join(d, "fake-netlet"), `#!/bin/sh\necho "netlet $*" >> ${out}\ncat >> ${out}\n`, { mode: 0o755 });
  return {
    hooksDir: join(d, "hooks"),
    binary: join(d, "fake-netlet"),
    socket: "/run/x y/netlet.sock",
    onAgentDown: "refuse",
    timeoutSeconds: 5,
    out,
  };
}

const runHook = (o: InstallOptions, args: string[], xml: string) =>
  spawnSync([join(o.hooksDir, "qemu"), ...args], { stdin: Buffer.from(xml), stdout: "pipe", stderr: "pipe" });

describe("netlet libvirt install", () => {
  test("writes an executable hook that passes libvirt's arguments and the XML to `netlet libvirt hook`; a second run changes nothing", () => {
    const o = setup();
    expect(installHook(o)).toEqual([
      `wrote ${o.hooksDir}/qemu`,
      "restart libvirtd: it looks for hook scripts only when it starts",
    ]);
    expect(statSync(join(o.hooksDir, "qemu")).mode & 0o777).toBe(0o755);
    expect(runHook(o, ["vm1", "prepare", "begin", "-"], "<domain/>").exitCode).toBe(0);
    expect(readFileSync(o.out, "utf8")).toBe(
      "netlet libvirt hook --socket /run/x y/netlet.sock --on-agent-down refuse --timeout 5 -- vm1 prepare begin -\n<domain/>\n",
    );
    expect(installHook(o)).toEqual([`${o.hooksDir}/qemu is already installed`]);
    expect(installHook({ ...o, onAgentDown: "start" })).toEqual([`wrote ${o.hooksDir}/qemu`]);
    expect(existsSync(join(o.hooksDir, CHAINED))).toBe(false);
  });

  test("an existing hook is kept, runs first with the same arguments and XML, and its failure refuses the start", () => {
    const o = setup();
    installHook({ ...o, hooksDir: o.hooksDir }); // creates the directory
    rmSync(join(o.hooksDir, "qemu"));
    const theirs = join(o.hooksDir, "their-log");
    writeFileSync(
      join(o.hooksDir, "qemu"),
      `#!/bin/sh\necho "theirs $*" >> ${theirs}\ncat >> ${theirs}\n[ "$1" != bad ]\n`,
      { mode: 0o755 },
    );
    expect(installHook(o)[0]).toBe(`kept the existing hook as ${o.hooksDir}/${CHAINED}; netlet's hook runs it first`);
    expect(runHook(o, ["vm1", "start", "begin", "-"], "<domain/>").exitCode).toBe(0);
    expect(readFileSync(theirs, "utf8")).toBe("theirs vm1 start begin -\n<domain/>\n");
    expect(readFileSync(o.out, "utf8")).toContain("-- vm1 start begin -\n<domain/>\n");
    const bad = runHook(o, ["bad", "start", "begin", "-"], "<domain/>");
    expect(bad.exitCode).not.toBe(0);
    expect(readFileSync(o.out, "utf8")).not.toContain("-- bad start");
    // Installing again keeps the chain as it is.
    expect(installHook(o)).toEqual([`${o.hooksDir}/qemu is already installed`]);
  });

  test("a foreign hook when qemu.pre-netlet already exists is refused, and nothing is moved", () => {
    const o = setup();
    installHook(o);
    writeFileSync(join(o.hooksDir, "qemu"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    writeFileSync(join(o.hooksDir, CHAINED), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    expect(() => installHook(o)).toThrow(
      `is not netlet's and ${o.hooksDir}/${CHAINED} already exists: merge them by hand`,
    );
    expect(readFileSync(join(o.hooksDir, "qemu"), "utf8")).toBe("#!/bin/sh\nexit 0\n");
  });
});
