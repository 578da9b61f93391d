/**
 * DNS over TCP (RFC 7766) on one address: a two-byte length before each message, several
 * pipelined on one connection, replies written in order of completion with backpressure
 * honoured. Bounded: at most `maxConnections` at once, idle ones closed after 10 s, a message
 * at most 65,535 bytes by construction of the framing.
 */
import type { Socket, TCPSocketListener } from "bun";

export interface TcpHandlers {
  /** The reply to one message from `remote`, or null for none. */
  onMessage(msg: Uint8Array, remote: string): Promise<Uint8Array | null>;
  onBusy(): void;
  onError(err: unknown): void;
}

interface Conn {
  buf: Uint8Array;
  /** Bytes the kernel did not take yet. */
  out: Uint8Array | null;
  counted: boolean;
}

const IDLE_S = 10;

export function listenTcp(
  address: string,
  port: number,
  maxConnections: number,
  h: TcpHandlers,
): TCPSocketListener<Conn> {
  let connections = 0;
  const write = (s: Socket<Conn>, bytes: Uint8Array) => {
    const pending = s.data.out;
    const all = pending ? concat(pending, bytes) : bytes;
    const n = s.write(all);
    s.data.out = n < all.length ? all.subarray(Math.max(0, n)) : null;
  };
  return Bun.listen<Conn>({
    hostname: address,
    port,
    socket: {
      open(s) {
        s.data = { buf: new Uint8Array(0), out: null, counted: connections < maxConnections };
        if (!s.data.counted) {
          h.onBusy();
          s.end();
          return;
        }
        connections++;
        s.timeout(IDLE_S);
      },
      data(s, chunk) {
        let buf = concat(s.data.buf, chunk);
        while (buf.length >= 2) {
          const len = (buf[0] << 8) | buf[1];
          if (buf.length < 2 + len) break;
          const msg = new Uint8Array(buf.subarray(2, 2 + len));
          buf = buf.subarray(2 + len);
          h.onMessage(msg, s.remoteAddress).then((reply) => {
            if (!reply || s.readyState !== 1) return;
            const framed = new Uint8Array(reply.length + 2);
            framed[0] = reply.length >> 8;
            framed[1] = reply.length & 0xff;
            framed.set(reply, 2);
            write(s, framed);
          }, h.onError);
        }
        s.data.buf = new Uint8Array(buf);
      },
      drain(s) {
        if (s.data.out) write(s, new Uint8Array(0));
      },
      close(s) {
        if (s.data?.counted) connections--;
      },
      timeout: (s) => void s.end(),
      error: () => {},
    },
  });
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
