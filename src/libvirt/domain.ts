/**
 * A libvirt domain as netlet needs it: uuid, name, the interfaces that may sit on a netlet bridge
 * and netlet's own `<metadata>` element. Pure: XML text in, a `Domain` or one `HookError` line out.
 */
import { XMLParser } from "fast-xml-parser";
import { isIfName } from "../net/ifname.ts";
import { isMac, normalizeMac } from "../net/mac.ts";
import { parseNetletMetadata, type NetletMetadata } from "./metadata.ts";
import { attr, HookError, nodeText as text, type Node } from "./xml-nodes.ts";

export { HookError };

export interface DomainInterface {
  /** "bridge" or "network" (a libvirt network that is a plain bridge shows its bridge in the live XML). */
  type: string;
  bridge: string | null;
  mac: string | null;
  /** The tap libvirt created: present in the live XML from `started` on. */
  target: string | null;
}

export interface Domain {
  uuid: string;
  name: string;
  interfaces: DomainInterface[];
  metadata: NetletMetadata | null;
}

/** Domain XML is at most a few kB; anything far larger is not a domain. */
export const MAX_DOMAIN_XML = 4 * 1024 * 1024;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  parseTagValue: false,
  parseAttributeValue: false,
  htmlEntities: false,
  trimValues: true,
  textNodeName: "#text",
  jPath: true,
  maxNestedTags: 64,
  // Elements netlet reads that may repeat: always arrays, so one and many look alike.
  isArray: (_name, path, _leaf, isAttribute) =>
    !isAttribute &&
    typeof path === "string" &&
    (path === "domain.devices.interface" || /^domain\.metadata\.[^.]+\.[^.]+$/.test(path)),
});

export function parseDomain(xml: string): Domain {
  if (xml.length > MAX_DOMAIN_XML)
    throw new HookError(`domain XML is ${xml.length} bytes; at most ${MAX_DOMAIN_XML} are accepted`);
  let doc: Node;
  try {
    doc = parser.parse(xml, true) as Node;
  } catch (err) {
    throw new HookError(`domain XML does not parse: ${(err as Error).message.split("\n")[0]}`);
  }
  const dom = doc.domain as Node | undefined;
  if (!dom || typeof dom !== "object") throw new HookError("the XML on stdin is not a libvirt <domain>");
  const name = text(dom.name);
  const uuid = text(dom.uuid)?.toLowerCase() ?? null;
  if (!name) throw new HookError("domain XML has no <name>");
  if (!uuid || !UUID_RE.test(uuid)) throw new HookError(`domain ${name}: <uuid> ${uuid ?? "(missing)"} is not a uuid`);
  const devices = (dom.devices ?? {}) as Node;
  const ifaces = (Array.isArray(devices.interface) ? devices.interface : []) as Node[];
  const interfaces = ifaces.map((i, n) => parseInterface(name, i, n));
  const metadata = parseNetletMetadata(name, dom.metadata);
  return { uuid, name, interfaces, metadata };
}

function parseInterface(domain: string, i: Node, n: number): DomainInterface {
  const type = attr(i, "type") ?? "";
  const mac = attr(i.mac, "address");
  if (mac !== null && !isMac(mac))
    throw new HookError(`domain ${domain}: interface ${n + 1}: <mac address='${mac}'> is not a MAC address`);
  const target = attr(i.target, "dev");
  if (target !== null && !isIfName(target))
    throw new HookError(`domain ${domain}: interface ${n + 1}: <target dev='${target}'> is not an interface name`);
  return { type, bridge: attr(i.source, "bridge"), mac: mac === null ? null : normalizeMac(mac), target };
}
