import { describe, expect, test } from "bun:test";
import { dhcpBridge, type DhcpSettings } from "../../src/dhcp/hosts-from-store.ts";
import type { Instance, Network, Vif } from "../../src/model.ts";

const net = {
  id: "net-1", cidr: "10.0.0.0/24", gateway: "10.0.0.1", bridge: "br100", dns1: null, dns2: null, mtu: 1450,
  multiHost: true, shareAddress: false, enableDhcp: true, deleted: false,
} as unknown as Network;
const inst = (uuid: string, hostname: string) => ({ uuid, hostname, deleted: false }) as unknown as Instance;
const vif = (id: string, mac: string, address: string, uuid: string, index: number) =>
  ({ id, mac, address, instanceUuid: uuid, networkId: "net-1", index, deleted: false, host: "h1" }) as unknown as Vif;
const settings: DhcpSettings = { dhcpDomain: "novalocal", dhcpLeaseTime: 86400, dnsServer: [], useSingleDefaultGateway: true, metadataAddress: "169.254.169.254" };
const instances = new Map([["i1", inst("i1", "web")], ["i2", inst("i2", "db")]]);

describe("dhcpBridge", () => {
  test("multi_host: gateway and DNS are this node's address; metadata route; first NIC only gets a router", () => {
    const b = dhcpBridge({ network: net, serverAddress: "10.0.0.3", vifs: [vif("v1", "FA:16:3E:00:00:01", "10.0.0.10", "i1", 0), vif("v2", "fa:16:3e:00:00:02", "10.0.0.11", "i2", 1)], instances }, settings);
    expect(b.bridge).toBe("br100");
    expect(b.hosts).toHaveLength(2);
    const [a, c] = b.hosts;
    expect(a).toMatchObject({ mac: "fa:16:3e:00:00:01", address: "10.0.0.10", prefixLength: 24, router: "10.0.0.3", dnsServers: ["10.0.0.3"], hostname: "web", serverId: "10.0.0.3", mtu: 1450, primary: true });
    expect(a.classlessRoutes).toEqual([{ destination: "169.254.169.254/32", gateway: "10.0.0.3" }]);
    expect(c.primary).toBe(false);
    expect(c.classlessRoutes).toEqual([]);
  });

  test("shared address uses the network gateway; dns_server wins over dns1/dns2; duplicates and deleted skipped", () => {
    const shared = { ...net, shareAddress: true, dns1: "8.8.8.8" } as Network;
    const b = dhcpBridge(
      {
        network: shared,
        serverAddress: "10.0.0.1",
        vifs: [vif("v1", "fa:16:3e:00:00:01", "10.0.0.10", "i1", 0), vif("v9", "fa:16:3e:00:00:01", "10.0.0.19", "i2", 0), { ...vif("v3", "fa:16:3e:00:00:03", "10.0.0.12", "i2", 0), deleted: true }, vif("v4", "fa:16:3e:00:00:04", "10.0.0.13", "gone", 0)],
        instances,
      },
      { ...settings, dnsServer: ["1.1.1.1"], useSingleDefaultGateway: false },
    );
    expect(b.hosts.map((h) => h.address)).toEqual(["10.0.0.10"]);
    expect(b.hosts[0].router).toBe("10.0.0.1");
    expect(b.hosts[0].dnsServers).toEqual(["1.1.1.1"]);
    expect(dhcpBridge({ network: shared, serverAddress: "10.0.0.1", vifs: [], instances }, settings).hosts).toEqual([]);
  });

  test("network DNS when dns_server is unset; DHCP disabled gives no hosts", () => {
    const withDns = { ...net, dns1: "8.8.8.8", dns2: "8.8.4.4" } as Network;
    const v = [vif("v1", "fa:16:3e:00:00:01", "10.0.0.10", "i1", 0)];
    expect(dhcpBridge({ network: withDns, serverAddress: "10.0.0.3", vifs: v, instances }, settings).hosts[0].dnsServers).toEqual(["8.8.8.8", "8.8.4.4"]);
    expect(dhcpBridge({ network: { ...net, enableDhcp: false } as Network, serverAddress: "10.0.0.3", vifs: v, instances }, settings).hosts).toEqual([]);
  });
});
