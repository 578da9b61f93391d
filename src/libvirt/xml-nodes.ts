/**
 * Reading nodes of the parsed domain XML (attributes are "@name", text is "#text"), and the one
 * error a hook reports: shared by the domain and its netlet metadata.
 */
export class HookError extends Error {}

export type Node = Record<string, unknown>;
export const attr = (n: unknown, name: string): string | null => {
  const v = n && typeof n === "object" ? (n as Node)[`@${name}`] : undefined;
  return typeof v === "string" ? v : null;
};
const text = (n: unknown): string | null =>
  typeof n === "string"
    ? n
    : n && typeof n === "object" && typeof (n as Node)["#text"] === "string"
      ? ((n as Node)["#text"] as string)
      : null;
export { text as nodeText };
