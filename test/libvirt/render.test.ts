import { describe, expect, test } from "bun:test";
import { parseDomain } from "../../src/libvirt/domain.ts";
import { renderDomainXml, tapName } from "../../src/libvirt/render.ts";
import { resolveTap } from "../../src/qemu/ifup.ts";
import { UUID } from "./fixtures.ts";

const inst = {
  uuid: UUID,
  name: "web & co",
  projectId: "admin",
  keyName: "demo",
  meta: { role: "db" },
  securityGroups: ["default", "web"],
  userDataBytes: 20,
  ports: [{ mac: "fa:16:3e:00:00:01", network: "private", networkId: "n1", address: "10.0.0.3", port: null }],
};

describe("netlet libvirt xml", () => {
  test("prints SMBIOS for cloud-init (product OpenStack Nova, serial = uuid), the interface and metadata the hook reads back", () => {
    const xml = renderDomainXml(inst, new Map([["n1", "br100"]]));
    expect(xml).toContain("<entry name='product'>OpenStack Nova</entry>");
    expect(xml).toContain(`<entry name='serial'>${UUID}</entry>`);
    expect(xml).toContain("<smbios mode='sysinfo'/>");
    expect(xml).toContain(`<target dev='${tapName(UUID, 0)}'/>`);
    expect(tapName(UUID, 0).length).toBeLessThanOrEqual(15);
    expect(xml).toContain("user data (20 bytes) is stored in netlet");
    // Pasted into a domain, it is exactly what the hook would register.
    const pieces = xml
      .split("<!-- inside <os>: -->")[0]
      .replace(/<!--.*?-->/gs, "")
      .replace(/<sysinfo.*<\/sysinfo>/s, "");
    const devices = xml.split("<!-- inside <devices>: -->")[1];
    const d = parseDomain(`<domain type='qemu'><name>web-co</name>${pieces}<devices>${devices}</devices></domain>`);
    expect(d.uuid).toBe(UUID);
    expect(d.interfaces).toEqual([
      { type: "bridge", bridge: "br100", mac: "fa:16:3e:00:00:01", target: tapName(UUID, 0) },
    ]);
    expect(d.metadata).toEqual({
      project: "admin",
      keyName: "demo",
      keyData: null,
      userData: null,
      securityGroups: ["default", "web"],
      meta: { role: "db" },
      networks: [{ label: "private", fixedIp: "10.0.0.3" }],
    });
  });
});

describe("qemu-ifup tap resolution", () => {
  const list = [
    {
      uuid: UUID,
      name: "vm1",
      ports: [
        { mac: "fa:16:3e:00:00:01", networkId: "n1" },
        { mac: "fa:16:3e:00:00:02", networkId: "n2" },
      ],
    },
  ];
  test("by NETLET_INSTANCE (+ NETLET_MAC), or by the tap<uuid8>-<index> name", () => {
    expect(resolveTap("anything", { instance: "vm1" }, list)).toEqual({
      instance: UUID,
      mac: "fa:16:3e:00:00:01",
      networkId: "n1",
    });
    expect(resolveTap("anything", { instance: UUID, mac: "FA:16:3E:00:00:02" }, list)).toEqual({
      instance: UUID,
      mac: "fa:16:3e:00:00:02",
      networkId: "n2",
    });
    expect(resolveTap(tapName(UUID, 1), {}, list)).toEqual({
      instance: UUID,
      mac: "fa:16:3e:00:00:02",
      networkId: "n2",
    });
  });
  test("anything else is a one-line error saying what to set", () => {
    expect(() => resolveTap("tap0", {}, list)).toThrow(
      "tap tap0: set NETLET_INSTANCE in QEMU's environment, or name the tap tap<first 8 hex of the uuid>-<port index>",
    );
    expect(() => resolveTap("tap12345678-0", {}, list)).toThrow(
      "no instance on this host with a uuid starting 12345678",
    );
    expect(() => resolveTap(tapName(UUID, 5), {}, list)).toThrow("instance vm1 has no port 5");
    expect(() => resolveTap("x", { instance: "ghost" }, list)).toThrow(
      "NETLET_INSTANCE=ghost: no such instance on this host",
    );
    expect(() => resolveTap("x", { instance: "vm1", mac: "fa:16:3e:00:00:09" }, list)).toThrow(
      "NETLET_MAC=fa:16:3e:00:00:09: instance vm1 has no port with this MAC",
    );
  });
});
