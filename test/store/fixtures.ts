/** Shared store fixtures: an in-memory store and network-create parameters. */
import { Store } from "../../src/store/db.ts";
import type { NetworkCreateParams } from "../../src/net/network-plan.ts";
import type { BootParams } from "../../src/store/instances.ts";

export function memStore(nodeId = "node-a"): Store {
  let t = 1_700_000_000_000;
  return new Store(":memory:", { nodeId, now: () => (t += 1) });
}

export const netParams = (p: Partial<NetworkCreateParams> = {}): NetworkCreateParams => ({
  label: "private",
  cidr: "10.0.0.0/24",
  cidrV6: null,
  numNetworks: 1,
  networkSize: null,
  fixedCidr: null,
  bridge: "br100",
  bridgeInterface: null,
  vlan: null,
  vxlan: null,
  gateway: null,
  gatewayV6: null,
  dns1: "8.8.4.4",
  dns2: null,
  mtu: null,
  multiHost: true,
  projectId: null,
  dhcpServer: null,
  allowedStart: null,
  allowedEnd: null,
  enableDhcp: true,
  shareAddress: false,
  vlanMode: false,
  ...p,
});

export const bootParams = (p: Partial<BootParams> = {}): BootParams => ({
  name: "vm1",
  networks: [],
  macs: [],
  fixedIps: [],
  keyName: null,
  userData: null,
  meta: {},
  securityGroups: [],
  availabilityZone: "nova",
  flavor: "m1.small",
  projectId: "admin",
  userId: "admin",
  ...p,
});

/** Every row of every table: to prove a rejected command changed nothing. */
export function snapshot(store: Store): string {
  const tables = store.db
    .query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    .all();
  return JSON.stringify(tables.map((t) => [t.name, store.db.query(`SELECT * FROM ${t.name}`).all()]));
}
