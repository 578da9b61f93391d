/**
 * `netlet libvirt xml INSTANCE`: the pieces of a domain definition that make a guest a netlet
 * instance: its uuid, netlet metadata, SMBIOS saying "OpenStack Nova" (without it cloud-init's
 * ds-identify disables itself on x86) and one `<interface>` per port. Pure: JSON in, text out.
 */
import { NETLET_XMLNS } from "./metadata.ts";

export interface RenderInstance {
  uuid: string;
  name: string;
  projectId: string;
  keyName: string | null;
  meta: Record<string, string>;
  securityGroups: string[];
  userDataBytes: number;
  ports: { mac: string; network: string; networkId: string; address: string | null; port?: string | null }[];
}

const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/'/g, "&apos;").replace(/"/g, "&quot;");

/** A tap name for port `idx`: stable, ≤ 15 characters, not libvirt's reserved vnet/vif prefixes. */
export const tapName = (uuid: string, idx: number) => `tap${uuid.slice(0, 8)}-${idx}`;

export function renderDomainXml(inst: RenderInstance, bridges: Map<string, string>): string {
  const md = [
    `    <netlet:project>${esc(inst.projectId)}</netlet:project>`,
    ...(inst.keyName ? [`    <netlet:key name='${esc(inst.keyName)}'/>`] : []),
    ...inst.securityGroups.map((g) => `    <netlet:security-group>${esc(g)}</netlet:security-group>`),
    ...Object.entries(inst.meta).map(([k, v]) => `    <netlet:meta key='${esc(k)}'>${esc(v)}</netlet:meta>`),
    ...inst.ports.map(
      (p) => `    <netlet:network label='${esc(p.network)}'${p.address ? ` fixed-ip='${p.address}'` : ""}/>`,
    ),
  ];
  const ifaces = inst.ports.flatMap((p, i) => [
    "<interface type='bridge'>",
    `  <mac address='${p.mac}'/>`,
    `  <source bridge='${esc(bridges.get(p.networkId) ?? "BRIDGE")}'/>`,
    `  <target dev='${esc(p.port ?? tapName(inst.uuid, i))}'/>`,
    "  <model type='virtio'/>",
    "</interface>",
  ]);
  return [
    `<!-- netlet instance ${esc(inst.name)}: paste into the domain's <domain> element (the uuid must match). -->`,
    `<uuid>${inst.uuid}</uuid>`,
    "<metadata>",
    `  <netlet:instance xmlns:netlet='${NETLET_XMLNS}'>`,
    ...md,
    ...(inst.userDataBytes
      ? [
          `    <!-- user data (${inst.userDataBytes} bytes) is stored in netlet; a <netlet:user-data> here would replace it -->`,
        ]
      : []),
    "  </netlet:instance>",
    "</metadata>",
    "<sysinfo type='smbios'>",
    "  <system>",
    "    <entry name='manufacturer'>OpenStack Foundation</entry>",
    "    <entry name='product'>OpenStack Nova</entry>",
    `    <entry name='serial'>${inst.uuid}</entry>`,
    `    <entry name='uuid'>${inst.uuid}</entry>`,
    "  </system>",
    "</sysinfo>",
    "<!-- inside <os>: -->",
    "<smbios mode='sysinfo'/>",
    "<!-- inside <devices>: -->",
    ...ifaces,
  ].join("\n");
}
