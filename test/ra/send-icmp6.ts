/**
 * Test helper run inside a VM namespace: sends raw ICMPv6 messages, as a misbehaving guest would.
 *   bun send-icmp6.ts <ifname> <dst> <hop-limit> <hex> [<hex>...]
 * Prints "sent <n>" and exits 0 when every send succeeded.
 */
import { RawIcmp6Socket } from "../../src/sys/raw6.ts";

const [ifname, dst, hop, ...hexes] = process.argv.slice(2);
const sock = RawIcmp6Socket.open(ifname, { passTypes: [], joinAllRouters: false, hopLimit: Number(hop) });
let sent = 0;
for (const h of hexes) if (sock.send(Uint8Array.from(Buffer.from(h, "hex")), dst) === 0) sent++;
sock.close();
console.log(`sent ${sent}`);
process.exit(sent === hexes.length ? 0 : 1);
