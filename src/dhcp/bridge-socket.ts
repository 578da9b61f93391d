/**
 * One DHCP server socket on one bridge: the device-bound fd from src/sys/udp-device.ts adopted
 * into Bun's event loop through node:dgram, plus the ARP write needed before unicasting to a
 * client that has no address yet. `DhcpService` only sees the `BridgeSocket` interface, so tests
 * can substitute a fake.
 */
import dgram from "node:dgram";
import { ifNameToIndex, openDeviceUdpSocket, setArpEntry } from "../sys/udp-device.ts";

export const SERVER_PORT = 67;

export interface BridgeSocket {
  readonly bridge: string;
  /** Interface index the socket is bound to; a re-created bridge gets a new one. */
  readonly ifindex: number;
  send(bytes: Uint8Array, port: number, address: string, done: (err: Error | null) => void): void;
  /** Writes address → mac into the bridge's ARP table. */
  setArp(address: string, mac: string): void;
  close(): void;
}

export type Receive = (packet: Uint8Array) => void;
export type OpenBridgeSocket = (bridge: string, receive: Receive, onError: (err: Error) => void) => BridgeSocket;

export const openBridgeSocket: OpenBridgeSocket = (bridge, receive, onError) => {
  const ifindex = ifNameToIndex(bridge);
  const fd = openDeviceUdpSocket(bridge, SERVER_PORT);
  const sock = dgram.createSocket({ type: "udp4" });
  sock.on("message", (msg) => receive(msg));
  sock.on("error", onError);
  sock.bind({ fd });
  let closed = false;
  return {
    bridge,
    ifindex,
    send(bytes, port, address, done) {
      if (closed) return done(new Error("socket closed"));
      sock.send(bytes, port, address, (err) => done(err ?? null));
    },
    setArp(address, mac) {
      setArpEntry(fd, bridge, address, mac);
    },
    close() {
      if (closed) return;
      closed = true;
      sock.close();
    },
  };
};
