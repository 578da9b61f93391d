/**
 * netlet's element in a domain's `<metadata>`, under its own XML namespace (libvirt drops
 * metadata children without one; nova writes `nova:instance` the same way):
 *
 *   <netlet:instance xmlns:netlet="urn:netlet:libvirt:1">
 *     <netlet:project>admin</netlet:project>
 *     <netlet:key name="demo"/>                      (a keypair, or the key line itself as text)
 *     <netlet:user-data encoding="base64">…</netlet:user-data>
 *     <netlet:security-group>web</netlet:security-group>   (repeatable)
 *     <netlet:meta key="role">db</netlet:meta>             (repeatable)
 *     <netlet:network label="private" fixed-ip="10.0.0.5"/> (repeatable, in interface order)
 *   </netlet:instance>
 *
 * Anything else in the namespace is an error naming the element, so a typo refuses the start
 * instead of starting the guest without what its owner wrote.
 */
import ipaddr from "ipaddr.js";
import { attr, HookError, nodeText } from "./xml-nodes.ts";

export const NETLET_XMLNS = "urn:netlet:libvirt:1";
export const MAX_USER_DATA = 65535;

export interface NetletMetadata {
  project: string | null;
  keyName: string | null;
  keyData: string | null;
  /** The user data bytes, base64 (what the admin API takes). */
  userData: string | null;
  securityGroups: string[];
  meta: Record<string, string>;
  networks: { label: string; fixedIp: string | null }[];
}

type Node = Record<string, unknown>;

/** The element of `<metadata>` in netlet's namespace, with the prefix its children use. */
function findNetletElement(metadata: unknown): { node: Node; prefix: string } | null {
  if (!metadata || typeof metadata !== "object") return null;
  for (const [tag, value] of Object.entries(metadata as Node)) {
    const colon = tag.indexOf(":");
    const prefix = colon < 0 ? "" : tag.slice(0, colon);
    const nodes = Array.isArray(value) ? value : [value];
    for (const n of nodes) {
      if (attr(n, prefix ? `xmlns:${prefix}` : "xmlns") !== NETLET_XMLNS) continue;
      if (tag.slice(colon + 1) !== "instance")
        throw new HookError(`<${tag}> in netlet's namespace: expected <${prefix ? `${prefix}:` : ""}instance>`);
      return { node: (typeof n === "object" ? n : {}) as Node, prefix: prefix ? `${prefix}:` : "" };
    }
  }
  return null;
}

const one = (domain: string, what: string, list: unknown[]): unknown => {
  if (list.length > 1)
    throw new HookError(
      `domain ${domain}: netlet metadata: <${what}> appears ${list.length} times; at most once is allowed`,
    );
  return list[0];
};

export function parseNetletMetadata(domain: string, metadata: unknown): NetletMetadata | null {
  const found = findNetletElement(metadata);
  if (!found) return null;
  const bad = (msg: string) => new HookError(`domain ${domain}: netlet metadata: ${msg}`);
  const m: NetletMetadata = {
    project: null,
    keyName: null,
    keyData: null,
    userData: null,
    securityGroups: [],
    meta: {},
    networks: [],
  };
  for (const [tag, value] of Object.entries(found.node)) {
    if (tag.startsWith("@")) continue;
    if (tag === "#text") throw bad(`<instance> holds text; expected only elements`);
    const local = found.prefix && tag.startsWith(found.prefix) ? tag.slice(found.prefix.length) : null;
    const list = Array.isArray(value) ? value : [value];
    switch (local) {
      case "project":
        m.project = textOf(bad, "project", one(domain, "project", list), 255);
        break;
      case "key":
        parseKey(bad, one(domain, "key", list), m);
        break;
      case "user-data":
        m.userData = parseUserData(bad, one(domain, "user-data", list));
        break;
      case "security-group":
        m.securityGroups = list.map((n) => textOf(bad, "security-group", n, 255));
        break;
      case "meta":
        for (const n of list) parseMeta(bad, n, m.meta);
        break;
      case "network":
        m.networks = list.map((n) => parseNetwork(bad, n));
        break;
      default:
        throw bad(`unknown element <${tag}>; allowed: project, key, user-data, security-group, meta, network`);
    }
  }
  return m;
}

type Bad = (msg: string) => HookError;

function textOf(bad: Bad, what: string, n: unknown, max: number): string {
  const t = nodeText(n);
  if (!t) throw bad(`<${what}> is empty`);
  if (t.length > max) throw bad(`<${what}> is ${t.length} characters; at most ${max} are allowed`);
  return t;
}

function parseKey(bad: Bad, n: unknown, m: NetletMetadata): void {
  m.keyName = attr(n, "name");
  m.keyData = nodeText(n) || null;
  if (!m.keyName && !m.keyData) throw bad("<key> needs a name='KEYPAIR' attribute or the public key line as its text");
  if (m.keyName !== null && !/^[A-Za-z0-9 _.@-]{1,255}$/.test(m.keyName))
    throw bad(`<key name='${m.keyName}'>: a keypair name is 1 to 255 of letters, digits, space, _ . @ -`);
  if (
    m.keyData &&
    !/^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,2}( .*)?$/.test(m.keyData)
  ) {
    throw bad(`<key> text is not an OpenSSH public key line (expected "ssh-ed25519 AAAA… comment")`);
  }
}

function parseUserData(bad: Bad, n: unknown): string {
  const enc = attr(n, "encoding");
  const t = nodeText(n) ?? "";
  let bytes: Buffer;
  if (enc === "base64") {
    const b64 = t.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0)
      throw bad("<user-data encoding='base64'> is not valid base64");
    bytes = Buffer.from(b64, "base64");
  } else if (enc === null) {
    bytes = Buffer.from(t);
  } else {
    throw bad(`<user-data encoding='${enc}'>: allowed encodings are base64 or none (the text itself)`);
  }
  if (bytes.length > MAX_USER_DATA)
    throw bad(`<user-data> is ${bytes.length} bytes; at most ${MAX_USER_DATA} are allowed`);
  return bytes.toString("base64");
}

function parseMeta(bad: Bad, n: unknown, meta: Record<string, string>): void {
  const key = attr(n, "key");
  if (!key || key.length > 255) throw bad("<meta> needs a key='NAME' attribute of 1 to 255 characters");
  const value = nodeText(n) ?? "";
  if (value.length > 255) throw bad(`<meta key='${key}'> value is ${value.length} characters; at most 255 are allowed`);
  if (key in meta) throw bad(`<meta key='${key}'> appears twice`);
  meta[key] = value;
}

function parseNetwork(bad: Bad, n: unknown): { label: string; fixedIp: string | null } {
  const label = attr(n, "label");
  if (!label || label.length > 255) throw bad("<network> needs a label='NETWORK' attribute (a network's label or id)");
  const fixedIp = attr(n, "fixed-ip");
  if (fixedIp !== null && !ipaddr.IPv4.isValidFourPartDecimal(fixedIp))
    throw bad(`<network label='${label}' fixed-ip='${fixedIp}'>: not an IPv4 address`);
  return { label, fixedIp };
}
