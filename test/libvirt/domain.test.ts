import { describe, expect, test } from "bun:test";
import { HookError, parseDomain } from "../../src/libvirt/domain.ts";
import { domainXml, KEY, netletMeta, UUID } from "./fixtures.ts";

const err = (xml: string) => {
  try {
    parseDomain(xml);
  } catch (e) {
    expect(e).toBeInstanceOf(HookError);
    return (e as Error).message;
  }
  throw new Error("parsed");
};

describe("domain XML", () => {
  test("uuid, name, interfaces with libvirt's own MAC and the tap of the live XML", () => {
    const d = parseDomain(
      domainXml({
        uuid: UUID.toUpperCase(),
        ifaces: [
          "<interface type='bridge'><mac address='52:54:00:AB:CD:EF'/><source bridge='br100'/><target dev='vnet3'/></interface>",
          "<interface type='network'><mac address='52:54:00:00:00:02'/><source network='default' bridge='virbr0'/></interface>",
          "<interface type='user'/>",
        ],
      }),
    );
    expect(d.uuid).toBe(UUID);
    expect(d.name).toBe("vm1");
    expect(d.interfaces).toEqual([
      { type: "bridge", bridge: "br100", mac: "52:54:00:ab:cd:ef", target: "vnet3" },
      { type: "network", bridge: "virbr0", mac: "52:54:00:00:00:02", target: null },
      { type: "user", bridge: null, mac: null, target: null },
    ]);
    expect(d.metadata).toBeNull();
  });

  test("netlet metadata under any prefix of its namespace; nova's element beside it is ignored", () => {
    const md =
      `<nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1"><nova:name>x</nova:name></nova:instance>` +
      netletMeta(
        `<n:project>p1</n:project><n:key>${KEY}</n:key><n:user-data encoding='base64'>I2Nsb3VkLWNvbmZpZwo=</n:user-data>
       <n:security-group>web</n:security-group><n:security-group>ssh</n:security-group><n:meta key='role'>db &amp; cache</n:meta>
       <n:network label='private' fixed-ip='10.0.0.9'/>`,
        "n",
      );
    expect(parseDomain(domainXml({ metadata: md })).metadata).toEqual({
      project: "p1",
      keyName: null,
      keyData: KEY,
      userData: "I2Nsb3VkLWNvbmZpZwo=",
      securityGroups: ["web", "ssh"],
      meta: { role: "db & cache" },
      networks: [{ label: "private", fixedIp: "10.0.0.9" }],
    });
    const plain = parseDomain(
      domainXml({ metadata: netletMeta("<netlet:user-data>#cloud-config\nhostname: a</netlet:user-data>") }),
    ).metadata!;
    expect(Buffer.from(plain.userData!, "base64").toString()).toBe("#cloud-config\nhostname: a");
  });

  test("invalid netlet metadata is one line naming the domain, the element and what is allowed", () => {
    const cases: [string, string][] = [
      [
        "<netlet:colour>red</netlet:colour>",
        "domain vm1: netlet metadata: unknown element <netlet:colour>; allowed: project, key, user-data, security-group, meta, network",
      ],
      [
        "<netlet:network label='private' fixed-ip='10.0.0.300'/>",
        "<network label='private' fixed-ip='10.0.0.300'>: not an IPv4 address",
      ],
      ["<netlet:network/>", "<network> needs a label='NETWORK' attribute"],
      ["<netlet:key>not a key</netlet:key>", "<key> text is not an OpenSSH public key line"],
      ["<netlet:key/>", "<key> needs a name='KEYPAIR' attribute or the public key line as its text"],
      [
        "<netlet:user-data encoding='base64'>@@@</netlet:user-data>",
        "<user-data encoding='base64'> is not valid base64",
      ],
      [
        "<netlet:user-data encoding='gzip'>x</netlet:user-data>",
        "<user-data encoding='gzip'>: allowed encodings are base64 or none",
      ],
      [
        `<netlet:user-data encoding='base64'>${Buffer.alloc(70000).toString("base64")}</netlet:user-data>`,
        "<user-data> is 70000 bytes; at most 65535 are allowed",
      ],
      ["<netlet:meta>v</netlet:meta>", "<meta> needs a key='NAME' attribute"],
      ["<netlet:meta key='a'>1</netlet:meta><netlet:meta key='a'>2</netlet:meta>", "<meta key='a'> appears twice"],
      [
        "<netlet:project>a</netlet:project><netlet:project>b</netlet:project>",
        "<project> appears 2 times; at most once is allowed",
      ],
      ["<netlet:project></netlet:project>", "<project> is empty"],
    ];
    for (const [inner, want] of cases) {
      const msg = err(domainXml({ metadata: netletMeta(inner) }));
      expect(msg).toContain(want);
      expect(msg).not.toContain("\n");
    }
  });

  test("XML that is not a usable domain is refused with a reason", () => {
    expect(err("<domain><name>x</name>")).toContain("domain XML does not parse");
    expect(err("<network><name>x</name></network>")).toBe("the XML on stdin is not a libvirt <domain>");
    expect(err(domainXml({ uuid: "nope" }))).toBe("domain vm1: <uuid> nope is not a uuid");
    expect(
      err(domainXml({ ifaces: ["<interface type='bridge'><mac address='52:54:00:zz:00:01'/></interface>"] })),
    ).toContain("interface 1: <mac address='52:54:00:zz:00:01'> is not a MAC address");
    expect(err("x".repeat(5 * 1024 * 1024))).toContain("at most 4194304 are accepted");
  });
});
