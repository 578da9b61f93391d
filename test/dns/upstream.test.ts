/**
 * The forwarder against a scripted upstream on loopback: forged answers (wrong source address,
 * wrong ID, wrong question) are counted and ignored and the real answer is taken; a truncated
 * answer is asked again over TCP; a silent upstream costs one try, then the next server answers.
 */
import { afterEach, describe, expect, test } from "bun:test";
import * as dnsPacket from "dns-packet";
import type { Answer, DecodedPacket } from "dns-packet";
import type { udp } from "bun";
import { Upstreams } from "../../src/dns/upstream.ts";

const open: { close(): void }[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

type Reply = (p: dnsPacket.Packet, from?: udp.Socket<"buffer">) => void;

/** A UDP "upstream" on `host` that hands each query to `script`; `forger` can send from 127.0.0.2. */
async function upstream(
  script: (q: DecodedPacket, reply: Reply, forger: udp.Socket<"buffer">) => void,
  host = "127.0.0.1",
  port = 0,
) {
  const forger = await Bun.udpSocket({ hostname: "127.0.0.2" });
  const sock = await Bun.udpSocket({
    hostname: host,
    port,
    socket: {
      data(s, buf, p, addr) {
        script(dnsPacket.decode(buf), (r, from = s) => void from.send(dnsPacket.encode(r), p, addr), forger);
      },
    },
  });
  open.push(sock, forger);
  return sock.port;
}

const answer = (q: DecodedPacket, data: string[], over: Partial<dnsPacket.Packet> = {}): dnsPacket.Packet => ({
  type: "response",
  id: q.id,
  flags: dnsPacket.RECURSION_AVAILABLE,
  questions: q.questions,
  answers: data.map((d) => ({ name: q.questions![0].name, type: "A", class: "IN", ttl: 60, data: d }) as Answer),
  ...over,
});

const ask = { name: "www.example.org", type: "A" as const, class: "IN" as const };
const datas = (r: Awaited<ReturnType<Upstreams["resolve"]>>) =>
  r.ok ? r.reply.answers.map((a) => (a as { data: string }).data) : r.reason;

describe("upstream answers are checked (RFC 5452)", () => {
  test("forged source, ID and question are ignored and counted; the real answer wins", async () => {
    const port = await upstream((q, reply, forger) => {
      reply(answer(q, ["6.6.6.1"]), forger); // right ID and question, wrong source address
      reply(answer(q, ["6.6.6.2"], { id: (q.id! + 1) & 0xffff })); // wrong ID
      reply(answer(q, ["6.6.6.3"], { questions: [{ name: "evil.example", type: "A" }] })); // wrong question
      setTimeout(() => reply(answer(q, ["192.0.2.7"])), 20);
    });
    const mismatches: string[] = [];
    const u = new Upstreams({
      tryMs: 1000,
      deadlineMs: 1500,
      maxInFlight: 10,
      port,
      onMismatch: (r) => mismatches.push(r),
    });
    expect(datas(await u.resolve(ask, ["127.0.0.1"]))).toEqual(["192.0.2.7"]);
    u.close();
    expect(mismatches.sort()).toEqual(["upstream_id", "upstream_question", "upstream_source"]);
  });

  test("queries use random IDs and more than one source port", async () => {
    const ids = new Set<number>();
    const ports = new Set<number>();
    const sock = await Bun.udpSocket({
      hostname: "127.0.0.1",
      socket: {
        data(s, buf, p, addr) {
          const q = dnsPacket.decode(buf);
          ids.add(q.id!);
          ports.add(p);
          s.send(dnsPacket.encode(answer(q, ["192.0.2.1"])), p, addr);
        },
      },
    });
    open.push(sock);
    const u = new Upstreams({ tryMs: 1000, deadlineMs: 1500, maxInFlight: 100, port: sock.port });
    await Promise.all(
      Array.from({ length: 64 }, (_, i) => u.resolve({ ...ask, name: `n${i}.example.org` }, ["127.0.0.1"])),
    );
    u.close();
    expect(ids.size).toBeGreaterThan(60);
    expect(ports.size).toBeGreaterThan(8);
  });

  test("a truncated UDP answer is asked again over TCP", async () => {
    const many = Array.from({ length: 100 }, (_, i) => `198.51.100.${i + 1}`);
    const port = await upstream((q, reply) => reply(answer(q, [], { flags: dnsPacket.TRUNCATED_RESPONSE })));
    const tcp = Bun.listen<{ buf: Buffer }>({
      hostname: "127.0.0.1",
      port,
      socket: {
        open: (s) => void (s.data = { buf: Buffer.alloc(0) }),
        data(s, chunk) {
          s.data.buf = Buffer.concat([s.data.buf, chunk]);
          if (s.data.buf.length < 2 || s.data.buf.length < 2 + s.data.buf.readUInt16BE(0)) return;
          const out = dnsPacket.encode(answer(dnsPacket.decode(s.data.buf.subarray(2)), many));
          const len = Buffer.alloc(2);
          len.writeUInt16BE(out.length);
          s.write(Buffer.concat([len, out]));
        },
      },
    });
    open.push({ close: () => tcp.stop(true) });
    const u = new Upstreams({ tryMs: 1000, deadlineMs: 1500, maxInFlight: 10, port });
    expect(datas(await u.resolve(ask, ["127.0.0.1"]))).toEqual(many);
    u.close();
  });

  test("a silent first server costs one try; the second answers; both silent: timeout within the deadline", async () => {
    const port = await upstream(() => {}, "127.0.0.1");
    await upstream((q, reply) => reply(answer(q, ["192.0.2.9"])), "127.0.0.3", port);
    const u = new Upstreams({ tryMs: 400, deadlineMs: 600, maxInFlight: 10, port });
    let t0 = performance.now();
    expect(datas(await u.resolve(ask, ["127.0.0.1", "127.0.0.3"]))).toEqual(["192.0.2.9"]);
    expect(performance.now() - t0).toBeLessThan(1200);
    // Four silent servers at 400 ms each would take 1.6 s: the whole-question deadline stops at 0.6 s.
    t0 = performance.now();
    expect(
      datas(await u.resolve({ ...ask, name: "other.example" }, ["127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.1"])),
    ).toBe("timeout");
    expect(performance.now() - t0).toBeLessThan(1200);
    u.close();
  });
});
