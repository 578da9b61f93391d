import { describe, expect, test } from "bun:test";
import { ConfigError, defaultConfig, parseConfig } from "../../src/config/load.ts";
import { configSample } from "../../src/config/sample.ts";
import { OPTIONS } from "../../src/config/options.ts";

describe("config", () => {
  test("defaults follow nova's where nova had one", () => {
    const c = defaultConfig();
    expect(c.dhcpLeaseTime).toBe(86400);
    expect(c.dhcpDomain).toBe("novalocal");
    expect(c.metadataPort).toBe(8775);
    expect(c.metadataListenPort).toBe(8775);
    expect(c.forceDhcpRelease).toBe(true);
    expect(c.sendArpForHaCount).toBe(3);
    expect(c.firewallDriver).toBe("nftables");
    expect(c.defaultFloatingPool).toBe("nova");
    expect(c.fixedRangeV6).toBe("fd00::/48");
    expect(c.routingSourceIp).toBeNull();
    expect(c.dmzCidr).toEqual([]);
    expect(c.cluster.blockPrefix).toBe(28);
  });

  test("a nova.conf [DEFAULT] section is read with its own names and types", () => {
    const { config, warnings } = parseConfig(
      `
[DEFAULT]
my_ip = 192.0.2.10
public_interface = eth1
flat_interface = eth2
dmz_cidr = 10.128.0.0/24, 10.129.0.0/24
dns_server = 192.0.2.53
use_ipv6 = True
network_manager = nova.network.manager.FlatDHCPManager
`.replace("nova.network.manager.FlatDHCPManager", "flatdhcp"),
    );
    expect(warnings).toEqual([]);
    expect(config.myIp).toBe("192.0.2.10");
    expect(config.publicInterface).toBe("eth1");
    expect(config.flatInterface).toBe("eth2");
    expect(config.dmzCidr).toEqual(["10.128.0.0/24", "10.129.0.0/24"]);
    expect(config.dnsServer).toEqual(["192.0.2.53"]);
    expect(config.useIpv6).toBe(true);
  });

  test("a bad value names the key, the value and what is allowed", () => {
    const cases: [string, string][] = [
      ["dhcp_lease_time = soon", "config: dhcp_lease_time = soon: expected an integer from 60 to 31536000"],
      ["firewall_driver = pf", "config: firewall_driver = pf: expected one of nftables, iptables, noop"],
      ["my_ip = 300.1.1.1", "config: my_ip = 300.1.1.1: expected an IPv4 address"],
      [
        "dmz_cidr = 10.0.0.0/33",
        "config: dmz_cidr = 10.0.0.0/33: expected a comma-separated list of CIDRs (e.g. 10.0.0.0/8)",
      ],
      ["use_ipv6 = maybe", "config: use_ipv6 = maybe: expected true or false"],
      [
        "public_interface = a very long interface",
        "config: public_interface = a very long interface: expected an interface name (1-15 bytes, no '/', ':', quotes, whitespace or control characters, not . or ..)",
      ],
      ['flat_network_bridge = b"r', 'config: flat_network_bridge = b"r: expected an interface name'],
      ["flat_interface = eth0:1", "config: flat_interface = eth0:1: expected an interface name"],
      ["vlan_interface = ..", "config: vlan_interface = ..: expected an interface name"],
      ["log_level = chatty", "config: log_level = chatty: expected one of debug, info, warn, error"],
      ["ra_router_lifetime = 9001", "config: ra_router_lifetime = 9001: expected an integer from 0 to 9000"],
      ["gateway_v6 = 10.0.0.1", "config: gateway_v6 = 10.0.0.1: expected an IPv6 address"],
      ["metadata_host = notanip", "config: metadata_host = notanip: expected an IPv4 address"],
      ["routing_source_ip = fd00::1", "config: routing_source_ip = fd00::1: expected an IPv4 address"],
      [
        "dns_server = 8.8.8.8,notanip",
        "config: dns_server = 8.8.8.8,notanip: expected a comma-separated list of IP addresses",
      ],
      ["[cluster]\njoin = nohostport", "config: join = nohostport: expected a comma-separated list of host:port"],
    ];
    for (const [text, msg] of cases) {
      expect(() => parseConfig(text)).toThrow(ConfigError);
      expect(() => parseConfig(text)).toThrow(msg);
    }
  });

  test("unknown keys and sections warn and are otherwise ignored", () => {
    const { config, warnings } = parseConfig("[DEFAULT]\nrabbit_host = mq\n[libvirt]\nvirt_type = kvm\n");
    expect(warnings).toEqual([
      "config: unknown section [libvirt] ignored",
      "config: unknown key rabbit_host in [DEFAULT] ignored",
    ]);
    expect(config.dhcpDomain).toBe("novalocal");
  });

  test("the sample documents every option and parses back to the defaults", () => {
    const sample = configSample();
    for (const o of OPTIONS) expect(sample).toContain(`#${o.key} = ${o.default}`);
    const uncommented = sample.replace(/^#([a-z_0-9]+ = .*)$/gm, "$1");
    const { config, warnings } = parseConfig(uncommented);
    expect(warnings).toEqual([]);
    expect(config).toEqual(defaultConfig());
  });
});

import { planReload } from "../../src/config/reload.ts";

describe("config reload (SIGHUP)", () => {
  test("live options apply, restart-only options keep their running value and are named", () => {
    const running = parseConfig("dhcp_lease_time = 600\nmetadata_listen_port = 8775\n").config;
    const next = parseConfig("dhcp_lease_time = 1200\nmetadata_listen_port = 9000\ndmz_cidr = 10.9.0.0/16\n").config;
    const plan = planReload(running, next);
    expect(plan.applied.sort()).toEqual(["dhcp_lease_time", "dmz_cidr"]);
    expect(plan.needsRestart).toEqual(["metadata_listen_port"]);
    expect(plan.config.dhcpLeaseTime).toBe(1200);
    expect(plan.config.metadataListenPort).toBe(8775);
    expect(plan.config.dmzCidr).toEqual(["10.9.0.0/16"]);
  });
});

describe("nova.conf class names", () => {
  test("network_manager and firewall_driver accept nova's class paths", () => {
    const { config } = parseConfig(
      "network_manager = nova.network.manager.FlatDHCPManager\nfirewall_driver = nova.virt.libvirt.firewall.IptablesFirewallDriver\n",
    );
    expect(config.networkManager).toBe("flatdhcp");
    expect(config.firewallDriver).toBe("iptables");
    expect(parseConfig("network_manager = nova.network.manager.VlanManager").config.networkManager).toBe("vlan");
    expect(() => parseConfig("network_manager = nova.network.manager.Bogus")).toThrow(
      "expected one of flat, flatdhcp, vlan",
    );
  });
});
