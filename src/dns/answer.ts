/**
 * The sans-IO core: one decoded query and the zone in, a decision out — a reply from the zone
 * (A/AAAA/PTR/SOA/NS, NXDOMAIN with the SOA), a refusal, or "forward this question". No sockets,
 * no clock: the shell (service.ts) handles the cache and the upstreams.
 */
import type { Answer, DecodedPacket, Question } from "dns-packet";
import { inReverse, inZone, visible, type Zone } from "./zone.ts";

/** TTL of the zone's own answers: short, so a renamed or deleted instance is forgotten quickly. */
export const LOCAL_TTL = 5;
/** SOA minimum = negative-caching TTL of NXDOMAIN answers from the zone (RFC 2308). */
export const NEGATIVE_TTL = 5;

export type Rcode = "NOERROR" | "FORMERR" | "SERVFAIL" | "NXDOMAIN" | "NOTIMP" | "REFUSED";
export const RCODE: Record<Rcode, number> = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };

export interface Reply {
  rcode: Rcode;
  answers: Answer[];
  authorities: Answer[];
  /** Authoritative (from the zone) rather than forwarded. */
  aa: boolean;
}

export type Decision =
  | { kind: "reply"; reply: Reply; source: "zone" | "policy" }
  | { kind: "forward"; question: Question }
  | { kind: "drop"; reason: string };

/** The listener: its own addresses (the NS glue for `ns.<domain>`) and its network's project. */
export interface Self {
  v4: string | null;
  v6: string | null;
  /** Project of the listener's network; null for a shared network (every name visible). */
  project: string | null;
}

const reply = (rcode: Rcode, answers: Answer[] = [], authorities: Answer[] = [], aa = false): Decision => ({
  kind: "reply",
  reply: { rcode, answers, authorities, aa },
  source: aa ? "zone" : "policy",
});

export const normalName = (name: string) => name.toLowerCase().replace(/\.$/, "");

export function decide(q: DecodedPacket, zone: Zone, self: Self): Decision {
  if (q.flag_qr) return { kind: "drop", reason: "not_query" };
  const opcode = (q as unknown as { opcode: string }).opcode;
  if (opcode !== "QUERY") return reply("NOTIMP");
  if (!q.questions || q.questions.length !== 1) return reply("FORMERR");
  const question = q.questions[0];
  // dns-packet's type union omits the ANY meta-type it decodes.
  const type = question.type as string;
  const cls = question.class ?? "IN";
  if (cls !== "IN") return reply("REFUSED");
  if (type === "AXFR" || type === "IXFR") return reply("REFUSED");
  if (type === "OPT" || type === "UNKNOWN_0") return reply("FORMERR");
  const name = normalName(question.name);
  if (inZone(zone, name)) return fromZone(zone, name, question, self);
  if (name !== "" && !name.includes(".")) {
    // A bare name: answered when it is an instance, never leaked to the upstreams.
    if (zone.names.get(name)?.some((r) => visible(self.project, r.project)))
      return fromZone(zone, name, question, self);
    return reply("NXDOMAIN", [], [soa(zone)], true);
  }
  if (type === "PTR" || type === "ANY") {
    const p = zone.ptr.get(name);
    if (p !== undefined && visible(self.project, p.project)) {
      return reply(
        "NOERROR",
        [{ name: question.name, type: "PTR", class: "IN", ttl: LOCAL_TTL, data: p.target }],
        [],
        true,
      );
    }
  }
  if (inReverse(zone, name)) {
    const p = zone.ptr.get(name);
    const known = p !== undefined && visible(self.project, p.project);
    return reply(known ? "NOERROR" : "NXDOMAIN", [], [soa(zone)], true);
  }
  // RFC 8482: a minimal answer instead of everything the upstreams know about the name.
  if (type === "ANY")
    return reply("NOERROR", [
      { name: question.name, type: "HINFO", class: "IN", ttl: 3600, data: { cpu: "RFC8482", os: "" } },
    ]);
  return { kind: "forward", question: { name: question.name, type: question.type, class: "IN" } };
}

function soa(zone: Zone): Answer {
  const apex = zone.domain || ".";
  return {
    name: apex,
    type: "SOA",
    class: "IN",
    ttl: NEGATIVE_TTL,
    data: {
      mname: nsName(zone),
      rname: `hostmaster.${zone.domain || "invalid"}`,
      serial: zone.serial >>> 0,
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum: NEGATIVE_TTL,
    },
  };
}

const nsName = (zone: Zone) => (zone.domain ? `ns.${zone.domain}` : "ns.invalid");

function fromZone(zone: Zone, name: string, question: Question, self: Self): Decision {
  const t = question.type as string;
  const rr = (type: "A" | "AAAA" | "NS", data: string): Answer => ({
    name: question.name,
    type,
    class: "IN",
    ttl: LOCAL_TTL,
    data,
  });
  if (name === zone.domain) {
    if (t === "SOA") return reply("NOERROR", [{ ...soa(zone), name: question.name }], [], true);
    if (t === "NS" || t === "ANY") return reply("NOERROR", [rr("NS", nsName(zone))], [], true);
    return reply("NOERROR", [], [soa(zone)], true);
  }
  const records = zone.names.get(name)?.filter((r) => visible(self.project, r.project)) ?? [];
  if (records.length === 0) {
    if (name === nsName(zone)) {
      const glue = t === "A" ? self.v4 : t === "AAAA" ? self.v6 : null;
      return reply("NOERROR", glue ? [rr(t as "A" | "AAAA", glue)] : [], glue ? [] : [soa(zone)], true);
    }
    return reply("NXDOMAIN", [], [soa(zone)], true);
  }
  const answers: Answer[] = [];
  for (const host of records) {
    if (t === "A" || t === "ANY") for (const a of host.v4) answers.push(rr("A", a));
    if (t === "AAAA" || t === "ANY") for (const a of host.v6) answers.push(rr("AAAA", a));
  }
  return reply("NOERROR", answers, answers.length ? [] : [soa(zone)], true);
}
