/**
 * Path handling and text rendering shared by both trees, as nova's `InstanceMetadata.lookup`
 * and `ec2_md_print` do them (nova-reference §1.3, §1.4).
 */

/** A node of a metadata tree. `_name` on a dict renders that dict's listing line in its parent. */
export type MdValue = string | number | Uint8Array | string[] | MdDict;
export interface MdDict {
  [key: string]: MdValue | undefined;
}

/**
 * POSIX-normalised path segments: `//`, `.`, `..` and trailing `/` removed, percent-decoding
 * applied (WSGI hands nova a decoded PATH_INFO). Returns null for undecodable input.
 */
export function pathSegments(rawPath: string): string[] | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return null;
  }
  const out: string[] = [];
  for (const seg of decoded.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return out;
}

/**
 * nova's `ec2_md_print`: a dict lists its keys sorted (byte order), a child dict as `key/`
 * unless it carries `_name`; a list joins its items; no trailing newline anywhere.
 */
export function renderText(value: MdValue): string | Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  if (Array.isArray(value)) return value.join("\n");
  const lines: string[] = [];
  for (const key of Object.keys(value).sort(byteOrder)) {
    const child = value[key];
    if (key === "_name" || child === undefined) continue;
    if (isDict(child)) lines.push(typeof child._name === "string" ? child._name : `${key}/`);
    else lines.push(key);
  }
  return lines.join("\n");
}

/** Walks `segments` below `root`; undefined when a segment does not exist (→ 404, never 500). */
export function walk(root: MdValue, segments: string[]): MdValue | undefined {
  let node: MdValue | undefined = root;
  for (const seg of segments) {
    if (node === undefined || !isDict(node) || seg === "_name") return undefined;
    node = Object.hasOwn(node, seg) ? node[seg] : undefined;
  }
  return node;
}

export function isDict(v: MdValue | undefined): v is MdDict {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
