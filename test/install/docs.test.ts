/** The operator docs stay in step with the code: every option in the migration table, every doctor check in operations.md. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { OPTIONS } from "../../src/config/options.ts";
import { runChecks } from "../../src/doctor/checks.ts";
import type { DoctorTarget, HostFacts } from "../../src/doctor/types.ts";

const docs = join(import.meta.dir, "..", "..", "docs");

describe("operator docs", () => {
  test("migrating-from-nova-network.md lists every option with netlet's default", async () => {
    const text = await Bun.file(join(docs, "migrating-from-nova-network.md")).text();
    for (const o of OPTIONS) {
      const row = text.split("\n").find((l) => l.startsWith(`| \`${o.key}\` |`));
      expect(row, `row for ${o.key}`).toBeDefined();
      if (o.default) expect(row!.split("|")[2], `default of ${o.key}`).toContain(o.default);
    }
  });

  test("operations.md names every check netlet doctor can report", async () => {
    const text = await Bun.file(join(docs, "operations.md")).text();
    // Facts under which every check reports something (most of them failing).
    const facts: HostFacts = {
      nftVersion: { code: 0, stdout: "nftables v1.0.6", stderr: "" },
      nftList: { code: 0, stdout: "", stderr: "" },
      ipVersion: { code: 0, stdout: "iproute2-6.1.0", stderr: "" },
      ipJson: { code: 0, stdout: "[]", stderr: "" },
      tools: { bridge: true, sysctl: true, conntrack: true, arping: true },
      kinds: { bridge: { state: "loaded" }, veth: { state: "loaded" }, vxlan: { state: "loaded" } },
      sysctl: { "net.bridge.bridge-nf-call-iptables": "1", "net.bridge.bridge-nf-call-ip6tables": "1" },
      interfaces: [],
      processes: [
        { pid: 1, argv: ["nova-network"], files: {} },
        { pid: 2, argv: ["dnsmasq", "--dhcp-range=a"], files: {} },
        { pid: 3, argv: ["radvd"], files: { "/etc/radvd.conf": "interface br100 {};" } },
      ],
      statePath: { path: "/x", exists: true, writable: true },
      socketDir: { path: "/y", exists: true, writable: true },
    };
    const t: DoctorTarget = {
      firewallDriver: "nftables",
      useIpv6: true,
      sendArpForHa: true,
      publicInterface: "eth0",
      bridges: ["br100"],
      bridgesFrom: "flat_network_bridge",
      statePath: "/x",
      adminSocket: "/y/s",
    };
    const ids = new Set(["config", "iptables", "tools", "conflicts", ...runChecks(facts, t).map((c) => c.id)]);
    for (const id of ids) {
      if (id.startsWith("tool-")) continue; // covered by the `tools` row
      expect(text, `check ${id}`).toContain(`\`${id}\``);
    }
  });
});
