/**
 * `netlet dns query NAME [--type T]`: the input check and the JSON the admin API returns. An IP
 * address as NAME asks for its PTR, as `dig -x` does.
 */
import ipaddr from "ipaddr.js";
import type { Answer } from "dns-packet";
import type { Answered } from "./service.ts";
import { reverseName } from "./zone.ts";

export const QUERY_TYPES = ["A", "AAAA", "PTR", "SOA", "NS", "MX", "TXT", "CNAME", "SRV", "CAA", "ANY"] as const;

export type QueryInput = { ok: true; name: string; type: string } | { ok: false; error: string };

export function parseQueryInput(name: string | undefined, type: string | undefined): QueryInput {
  if (!name) return { ok: false, error: "name: required (a DNS name or an IP address)" };
  const t = (type ?? "").toUpperCase();
  if (t && !(QUERY_TYPES as readonly string[]).includes(t))
    return { ok: false, error: `type = ${type}: expected one of ${QUERY_TYPES.join(", ")}` };
  if (ipaddr.isValid(name) && (!t || t === "PTR")) return { ok: true, name: reverseName(name), type: "PTR" };
  const n = name.replace(/\.$/, "");
  const labels = n.split(".");
  if (n.length > 253 || labels.some((l) => !/^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(l))) {
    return {
      ok: false,
      error: `name = ${name}: expected a DNS name (labels of 1-63 letters, digits, '-' or '_'; 253 characters at most)`,
    };
  }
  return { ok: true, name: n, type: t || "A" };
}

const text = (a: Answer): string => {
  const d = (a as { data?: unknown }).data;
  if (typeof d === "string") return d;
  if (Buffer.isBuffer(d)) return d.toString("hex");
  return JSON.stringify(d, (_k, v) => (v && v.type === "Buffer" ? Buffer.from(v.data).toString() : v));
};

export function queryJson(name: string, type: string, a: Answered & { listener: string | null }) {
  const rr = (x: Answer) => ({ name: x.name, type: x.type, ttl: (x as { ttl?: number }).ttl ?? 0, data: text(x) });
  return {
    name,
    type,
    listener: a.listener,
    source: a.source,
    rcode: a.reply.rcode,
    answers: a.reply.answers.map(text),
    records: a.reply.answers.map(rr),
    authority: a.reply.authorities.map(rr),
  };
}
