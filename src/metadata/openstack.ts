/**
 * The OpenStack tree (nova-reference §1.6, §1.7): versions, the files each version lists, and
 * meta_data.json. `random_seed` is never part of a cached document: `metaDataJson` leaves a
 * marker that `withRandomSeed` replaces per request.
 */
import { fqdn } from "./ec2.ts";
import type { InstanceView } from "./source.ts";

export const OPENSTACK_VERSIONS = [
  "2012-08-10", // FOLSOM: meta_data.json, user_data
  "2013-04-04", // GRIZZLY: password, random_seed
  "2013-10-17", // HAVANA: vendor_data.json
  "2015-10-15", // LIBERTY: network_data.json, project_id
  "2016-06-30", // NEWTON_ONE: devices
  "2016-10-06", // NEWTON_TWO: vendor_data2.json
  "2017-02-22", // OCATA: vlan in nic devices
  "2018-08-27", // ROCKY: vf_trusted in nic devices
] as const;

export const GRIZZLY = "2013-04-04";
export const HAVANA = "2013-10-17";
export const LIBERTY = "2015-10-15";
export const NEWTON_ONE = "2016-06-30";
export const NEWTON_TWO = "2016-10-06";

/** The concrete version behind `name` (latest = newest), or null → 404. */
export function openstackVersion(name: string): string | null {
  if (name === "latest") return OPENSTACK_VERSIONS[OPENSTACK_VERSIONS.length - 1];
  return (OPENSTACK_VERSIONS as readonly string[]).includes(name) ? name : null;
}

/** `/openstack`: versions dated on or before today (UTC), then latest; future ones stay servable. */
export function openstackVersionList(nowMs: number): string[] {
  const today = new Date(nowMs).toISOString().slice(0, 10);
  return [...OPENSTACK_VERSIONS.filter((v) => v <= today), "latest"];
}

/** `/openstack/<version>`: the files in nova's order. */
export function openstackFiles(version: string, hasUserData: boolean): string[] {
  const files = ["meta_data.json"];
  if (hasUserData) files.push("user_data");
  if (version >= GRIZZLY) files.push("password");
  if (version >= HAVANA) files.push("vendor_data.json");
  if (version >= LIBERTY) files.push("network_data.json");
  if (version >= NEWTON_TWO) files.push("vendor_data2.json");
  return files;
}

const SEED_MARKER = '"\u0000random_seed\u0000"';

/** meta_data.json in nova's key order; versions ≥ GRIZZLY carry a random_seed marker. */
export function metaDataJson(view: InstanceView, version: string, dhcpDomain: string): string {
  const { instance } = view;
  const md: Record<string, unknown> = { uuid: instance.uuid };
  if (Object.keys(instance.meta).length > 0) md.meta = instance.meta;
  if (instance.keyName) {
    md.public_keys = { [instance.keyName]: instance.keyData ?? "" };
    const keys = view.keypairs.filter((k) => k.name === instance.keyName);
    if (keys.length > 0) md.keys = keys.map((k) => ({ name: k.name, type: k.type, data: k.publicKey }));
  }
  md.hostname = fqdn(instance.hostname, dhcpDomain);
  md.name = instance.name;
  md.launch_index = instance.launchIndex;
  md.availability_zone = instance.availabilityZone;
  if (version >= GRIZZLY) md.random_seed = SEED_MARKER;
  if (version >= LIBERTY) md.project_id = instance.projectId;
  // No tagged devices exist in this deployment model; nova lists only tagged ones.
  if (version >= NEWTON_ONE) md.devices = [];
  return JSON.stringify(md).replace(JSON.stringify(SEED_MARKER), SEED_MARKER);
}

/** Splits a rendered meta_data.json around its marker, so serving is one concatenation. */
export function splitSeed(json: string): [string, string] | null {
  const at = json.indexOf(SEED_MARKER);
  if (at < 0) return null;
  return [json.slice(0, at + 1), json.slice(at + SEED_MARKER.length - 1)];
}

/** Base64 of 512 fresh random bytes (cloud-init requires valid base64). */
export function randomSeed(randomBytes: (n: number) => Uint8Array): string {
  return Buffer.from(randomBytes(512)).toString("base64");
}
