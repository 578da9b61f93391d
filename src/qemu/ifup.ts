/**
 * `netlet qemu-ifup TAP` / `netlet qemu-ifdown TAP`: scripts for plain QEMU's
 * `-netdev tap,ifname=TAP,script=…,downscript=…` (QEMU runs them with the tap's name only).
 * The instance is named by $NETLET_INSTANCE (and the port by $NETLET_MAC when it has several),
 * both inherited from QEMU's environment; otherwise by the tap name `netlet libvirt xml` and
 * the docs use, tap<first 8 of uuid>-<port index>. ifup puts the tap in the port's bridge and
 * declares it as the port; ifdown withdraws the declaration (QEMU deletes the tap).
 */
export interface IfupInstance {
  uuid: string;
  name: string;
  ports: { mac: string; networkId: string }[];
}
export interface IfupTarget {
  instance: string;
  mac: string;
  networkId: string;
}

const TAP_RE = /^tap([0-9a-f]{8})-(\d{1,2})$/;

/** Pure: which instance and port a tap belongs to. */
export function resolveTap(tap: string, env: { instance?: string; mac?: string }, list: IfupInstance[]): IfupTarget {
  let inst: IfupInstance | undefined;
  let idx = 0;
  if (env.instance) {
    inst = list.find((i) => i.uuid === env.instance) ?? list.find((i) => i.name === env.instance);
    if (!inst) throw new Error(`NETLET_INSTANCE=${env.instance}: no such instance on this host`);
  } else {
    const m = TAP_RE.exec(tap);
    if (!m)
      throw new Error(
        `tap ${tap}: set NETLET_INSTANCE in QEMU's environment, or name the tap tap<first 8 hex of the uuid>-<port index>`,
      );
    const found = list.filter((i) => i.uuid.startsWith(m[1]));
    if (found.length !== 1)
      throw new Error(
        `tap ${tap}: ${found.length ? "several instances" : "no instance"} on this host with a uuid starting ${m[1]}`,
      );
    inst = found[0];
    idx = Number(m[2]);
  }
  const mac = env.mac?.toLowerCase();
  const port = mac ? inst.ports.find((p) => p.mac === mac) : inst.ports[idx];
  if (!port)
    throw new Error(
      env.mac
        ? `NETLET_MAC=${env.mac}: instance ${inst.name} has no port with this MAC`
        : `tap ${tap}: instance ${inst.name} has no port ${idx}`,
    );
  return { instance: inst.uuid, mac: port.mac, networkId: port.networkId };
}
