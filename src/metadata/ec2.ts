/**
 * The EC2-compatible tree (nova `get_ec2_metadata`, nova-reference §1.5): versions 1.0 …
 * 2009-04-04, keys added cumulatively by version, `latest` = 2009-04-04.
 */
import type { MdDict } from "./paths.ts";
import type { InstanceView } from "./source.ts";

export const EC2_VERSIONS = [
  "1.0",
  "2007-01-19",
  "2007-03-01",
  "2007-08-29",
  "2007-10-10",
  "2007-12-15",
  "2008-02-01",
  "2008-09-01",
  "2009-04-04",
] as const;

/** The concrete version behind `name`, or null when not served (then 404). */
export function ec2Version(name: string): string | null {
  if (name === "latest") return EC2_VERSIONS[EC2_VERSIONS.length - 1];
  return (EC2_VERSIONS as readonly string[]).includes(name) ? name : null;
}

/** `/` and `/ec2`: every version, then latest. */
export function ec2VersionList(): string[] {
  return [...EC2_VERSIONS, "latest"];
}

/** `<hostname>.<dhcp_domain>`, bare when the domain is empty (nova ≥ Train semantics). */
export function fqdn(hostname: string, dhcpDomain: string): string {
  return dhcpDomain ? `${hostname}.${dhcpDomain}` : hostname;
}

/**
 * EC2 ids are `<prefix>-%08x` of an integer in nova's id-mapping table; we derive the integer
 * from the first 32 bits of the uuid so the id is stable across hosts without a table.
 */
export function ec2Id(prefix: string, uuid: string): string {
  const hex = uuid.replace(/-/g, "").slice(0, 8).toLowerCase();
  return `${prefix}-${/^[0-9a-f]{8}$/.test(hex) ? hex : "00000000"}`;
}

/** First IPv4 fixed address in NIC order, else the requesting address (nova does the same). */
export function localIpv4(view: InstanceView, requestAddress: string): string {
  const v4 = sortedVifs(view).find(({ vif }) => vif.address);
  return v4?.vif.address ?? requestAddress;
}

export function sortedVifs(view: InstanceView) {
  return [...view.vifs].sort((a, b) => a.vif.index - b.vif.index);
}

/** The `/<version>` dict: `meta-data` plus `user-data` when the instance has some. */
export function ec2Tree(view: InstanceView, version: string, dhcpDomain: string, requestAddress: string): MdDict {
  const tree: MdDict = { "meta-data": ec2MetaData(view, version, dhcpDomain, requestAddress) };
  if (view.instance.userData) tree["user-data"] = view.instance.userData;
  return tree;
}

function ec2MetaData(view: InstanceView, version: string, dhcpDomain: string, requestAddress: string): MdDict {
  const { instance } = view;
  const hostname = fqdn(instance.hostname, dhcpDomain);
  // Version names are dates (and "1.0", which sorts first), so string order is release order.
  const since = (v: string) => version >= v;
  const md: MdDict = {
    "ami-id": view.imageId ? ec2Id("ami", view.imageId) : "ami-00000000",
    "ami-launch-index": instance.launchIndex,
    "ami-manifest-path": "FIXME",
    "instance-id": ec2Id("i", instance.uuid),
    hostname,
    "local-ipv4": localIpv4(view, requestAddress),
    "reservation-id": instance.reservationId,
    "security-groups": [...view.securityGroups],
  };
  if (instance.keyName) {
    md["public-keys"] = { "0": { _name: `0=${instance.keyName}`, "openssh-key": instance.keyData ?? "" } };
  }
  if (since("2007-01-19")) {
    md["local-hostname"] = hostname;
    md["public-hostname"] = hostname;
    md["public-ipv4"] = view.floatingIps[0] ?? "";
  }
  if (since("2007-08-29")) md["instance-type"] = instance.flavor;
  if (since("2007-12-15")) {
    md["block-device-mapping"] = blockDeviceMapping(view.rootDeviceName ?? null);
    if (view.kernelId) md["kernel-id"] = ec2Id("aki", view.kernelId);
    if (view.ramdiskId) md["ramdisk-id"] = ec2Id("ari", view.ramdiskId);
  }
  if (since("2008-02-01")) md.placement = { "availability-zone": instance.availabilityZone };
  if (since("2008-09-01")) md["instance-action"] = "none";
  return md;
}

/** nova `instance_block_mapping` for an instance without extra BDMs. */
function blockDeviceMapping(rootDeviceName: string | null): MdDict {
  if (!rootDeviceName) return { ami: "sda1", ephemeral0: "sda2", root: "/dev/sda1", swap: "sda3" };
  return { ami: rootDeviceName.replace(/^\/dev\//, ""), root: rootDeviceName };
}
