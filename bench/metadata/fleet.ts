/**
 * The benchmark's instances and the crawl cloud-init 22.4.2 performs against them (recorded
 * from the access log of a real crawl of this fixture: 7 OpenStack requests, then the EC2
 * meta-data walk; 28 here because block-device-mapping has `ami` and `root`).
 */
import type { Instance, Network } from "../../src/model.ts";
import type { InstanceView } from "../../src/metadata/source.ts";

const V = { origin: "bench", hlc: "0", deleted: false };

/** Instance 0 is 127.0.0.1 (for wrk); the storm's instances are 127.0.1.1 … 127.0.N.M. */
export function addressOf(i: number): string {
  return i === 0 ? "127.0.0.1" : `127.0.${1 + Math.floor((i - 1) / 250)}.${1 + ((i - 1) % 250)}`;
}

const network: Network = {
  ...V,
  id: "net-bench",
  label: "bench",
  cidr: "127.0.0.0/8",
  cidrV6: null,
  fixedCidr: null,
  netmask: "255.0.0.0",
  broadcast: null,
  gateway: "127.0.0.254",
  gatewayV6: null,
  dhcpServer: "127.0.0.254",
  dhcpStart: null,
  bridge: "lo",
  bridgeInterface: null,
  vlan: null,
  vxlan: null,
  dns1: "192.0.2.53",
  dns2: null,
  mtu: 1500,
  multiHost: true,
  projectId: null,
  enableDhcp: true,
  shareAddress: false,
  allowedStart: null,
  allowedEnd: null,
  vpnPrivateAddress: null,
  host: null,
  priority: null,
  createdAt: 0,
};

export function fleetView(i: number): InstanceView {
  const hex = i.toString(16).padStart(8, "0");
  const uuid = `${hex}-0000-4000-8000-000000000000`;
  const instance: Instance = {
    ...V,
    uuid,
    name: `vm${i}`,
    hostname: `vm${i}`,
    host: "bench",
    projectId: "p-bench",
    userId: "u",
    keyName: "k",
    keyData: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${hex} vm${i}`,
    userData: new TextEncoder().encode(`#cloud-config\nhostname: vm${i}\n`),
    meta: { role: "bench" },
    launchIndex: 0,
    availabilityZone: "nova",
    flavor: "m1.small",
    securityGroups: ["default"],
    reservationId: `r-${hex}`,
    password: null,
    createdAt: 0,
  };
  const vif = {
    ...V,
    id: `vif-${i}`,
    mac: `fa:16:3e:00:${hex.slice(4, 6)}:${hex.slice(6, 8)}`,
    instanceUuid: uuid,
    networkId: network.id,
    address: addressOf(i),
    addressV6: null,
    host: "bench",
    index: 0,
  };
  return {
    instance,
    vifs: [{ vif, network }],
    floatingIps: ["203.0.113.1"],
    keypairs: [],
    securityGroups: ["default"],
    rootDeviceName: "/dev/vda",
  };
}

export const CRAWL_PATHS = [
  "/openstack",
  "/openstack",
  "/openstack/2018-08-27/meta_data.json",
  "/openstack/2018-08-27/user_data",
  "/openstack/2018-08-27/vendor_data.json",
  "/openstack/2018-08-27/vendor_data2.json",
  "/openstack/2018-08-27/network_data.json",
  "/latest/meta-data/",
  "/latest/meta-data/block-device-mapping/",
  "/latest/meta-data/block-device-mapping/ami",
  "/latest/meta-data/block-device-mapping/root",
  "/latest/meta-data/placement/",
  "/latest/meta-data/placement/availability-zone",
  "/latest/meta-data/public-keys/",
  "/latest/meta-data/public-keys/0/openssh-key",
  "/latest/meta-data/ami-id",
  "/latest/meta-data/ami-launch-index",
  "/latest/meta-data/ami-manifest-path",
  "/latest/meta-data/hostname",
  "/latest/meta-data/instance-action",
  "/latest/meta-data/instance-id",
  "/latest/meta-data/instance-type",
  "/latest/meta-data/local-hostname",
  "/latest/meta-data/local-ipv4",
  "/latest/meta-data/public-hostname",
  "/latest/meta-data/public-ipv4",
  "/latest/meta-data/reservation-id",
  "/latest/meta-data/security-groups",
];
