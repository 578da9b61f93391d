import { afterAll, describe, expect, test } from "bun:test";
import { Lab, nsRun, requireNetns, run } from "./netns.ts";

describe.skipIf(!requireNetns())("netns harness", () => {
  const lab = new Lab();
  afterAll(() => lab.cleanup());

  test("a VM namespace on a bridge reaches the host address and cleanup removes everything", async () => {
    const host = lab.addNamespace("nlh");
    lab.addBridge(host, "br100", ["10.250.0.1/24"]);
    const vm = lab.addVm(host, { bridge: "br100", mac: "fa:16:3e:00:00:01" });
    nsRun(vm.ns, ["ip", "addr", "add", "10.250.0.2/24", "dev", vm.ifname]);
    const ping = nsRun(vm.ns, ["ping", "-c", "1", "-W", "2", "10.250.0.1"], { check: false });
    expect(ping.code).toBe(0);
    expect(nsRun(vm.ns, ["cat", `/sys/class/net/${vm.ifname}/address`]).stdout.trim()).toBe("fa:16:3e:00:00:01");
    const names = [...lab.namespaces];
    await lab.cleanup();
    const left = run(["ip", "netns", "list"]).stdout;
    for (const n of names) expect(left).not.toContain(n);
  });
});
