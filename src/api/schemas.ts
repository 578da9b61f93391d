/** valibot schemas of the admin API's request bodies (snake_case, as nova's REST API). */
import * as v from "valibot";

const optStr = v.optional(v.nullable(v.pipe(v.string(), v.maxLength(255))), null);
const optInt = (min: number, max: number) =>
  v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max))), null);

export const NetworkCreate = v.strictObject({
  label: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
  fixed_range_v4: optStr,
  fixed_range_v6: optStr,
  num_networks: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(4094)), 1),
  network_size: optInt(4, 2 ** 24),
  fixed_cidr: optStr,
  bridge: optStr,
  bridge_interface: optStr,
  vlan: optInt(1, 4094),
  vxlan: optInt(1, 16_777_215),
  gateway: optStr,
  gateway_v6: optStr,
  dns1: optStr,
  dns2: optStr,
  mtu: optInt(576, 65535),
  multi_host: v.optional(v.nullable(v.boolean()), null),
  project_id: optStr,
  dhcp_server: optStr,
  allowed_start: optStr,
  allowed_end: optStr,
  enable_dhcp: v.optional(v.boolean(), true),
  share_address: v.optional(v.nullable(v.boolean()), null),
});

export const KeypairAdd = v.strictObject({
  name: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
  public_key: v.pipe(v.string(), v.minLength(1), v.maxLength(16384)),
});

export const Boot = v.strictObject({
  /** Given by a hypervisor integration: the domain's own uuid becomes the instance's. */
  uuid: v.optional(v.pipe(v.string(), v.maxLength(36))),
  name: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
  networks: v.optional(v.array(v.pipe(v.string(), v.maxLength(255))), []),
  macs: v.optional(v.array(v.pipe(v.string(), v.maxLength(17))), []),
  fixed_ips: v.optional(v.array(v.pipe(v.string(), v.maxLength(45))), []),
  /** Host-side port of each VIF, in the order of `networks`. */
  ports: v.optional(v.array(v.pipe(v.string(), v.maxLength(64))), []),
  key_name: optStr,
  /** An OpenSSH public key line, served under key_name (default the instance's name). */
  key_data: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(16384))), null),
  /** base64 of the user data bytes */
  user_data: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(90_000))), null),
  meta: v.optional(
    v.record(v.pipe(v.string(), v.minLength(1), v.maxLength(255)), v.pipe(v.string(), v.maxLength(255))),
    {},
  ),
  security_groups: v.optional(v.array(v.pipe(v.string(), v.maxLength(255))), []),
  availability_zone: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(255)), "nova"),
  flavor: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(255)), "m1.small"),
  project_id: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(255)), "admin"),
  user_id: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(255)), "admin"),
});

/** PATCH /v1/instances/:ref: absent fields stay; key_name/key_data null remove the key. */
export const InstanceUpdate = v.strictObject({
  name: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(255))),
  key_name: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(255)))),
  key_data: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(16384)))),
  user_data: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(90_000)))),
  meta: v.optional(
    v.record(v.pipe(v.string(), v.minLength(1), v.maxLength(255)), v.pipe(v.string(), v.maxLength(255))),
  ),
  security_groups: v.optional(v.array(v.pipe(v.string(), v.maxLength(255)))),
});

export const SecgroupCreate = v.strictObject({
  name: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
  description: v.optional(v.pipe(v.string(), v.maxLength(255)), ""),
  project_id: v.optional(v.string(), "admin"),
});

export const RuleBody = v.strictObject({
  direction: v.optional(v.picklist(["ingress", "egress"]), "ingress"),
  ip_protocol: v.pipe(v.string(), v.maxLength(8)),
  from_port: v.pipe(v.number(), v.integer()),
  to_port: v.pipe(v.number(), v.integer()),
  cidr: optStr,
  source_group: optStr,
  project_id: v.optional(v.string(), "admin"),
  id: v.optional(v.string()),
});

export const InterfaceAttach = v.strictObject({
  network: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
  mac: optStr,
  fixed_ip: optStr,
});

export const InterfaceDetach = v.pipe(
  v.strictObject({ mac: optStr, address: optStr }),
  v.check((b) => (b.mac === null) !== (b.address === null), "give mac or address"),
);

/** nova network-disassociate: both by default; --host-only or --project-only clears one. */
export const NetworkDisassociate = v.strictObject({
  host: v.optional(v.boolean(), true),
  project: v.optional(v.boolean(), true),
});

export const NetworkAssociateHost = v.strictObject({
  host: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
});

export const InstanceGroup = v.strictObject({
  name: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
});

export const FloatingRange = v.strictObject({
  pool: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(255))),
  ip_range: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
  interface: optStr,
});

export const FloatingAllocate = v.strictObject({
  pool: optStr,
  project_id: v.optional(v.string(), "admin"),
});

export const FloatingAssociate = v.strictObject({
  instance: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
  fixed_address: optStr,
});

const ifname = v.pipe(v.string(), v.minLength(1), v.maxLength(64));

export const Plug = v.strictObject({
  port: ifname,
  mac: optStr,
  network: optStr,
});

export const Unplug = v.strictObject({
  port: v.optional(v.nullable(ifname), null),
});

export const Migrate = v.strictObject({
  to_host: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
  port: v.optional(v.nullable(ifname), null),
  mac: optStr,
  /** Base64, as at boot: user data stays on the host that received it, so a move may carry it. */
  user_data: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(90_000))), null),
});
