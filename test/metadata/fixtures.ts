/** Builders for metadata test data: one instance per call, networks and NICs with defaults. */
import type { Instance, Keypair, Vif } from "../../src/model.ts";
import type { Network } from "../../src/model.ts";
import { network, V } from "../fixtures/network.ts";

export { network };
import type { InstanceView } from "../../src/metadata/source.ts";

export function instance(over: Partial<Instance> = {}): Instance {
  return {
    ...V,
    uuid: "d8e02d56-2648-49a3-bf97-6be8f1204f38",
    name: "test",
    hostname: "test",
    host: "node-a",
    projectId: "f7ac731cc11f40efbc03a9f9e1d1d21f",
    userId: "u1",
    keyName: "mykey",
    keyData: "ssh-rsa AAAAB3NzaC1yc2E mykey@host",
    userData: new TextEncoder().encode("#!/bin/bash\necho 'Extra user data here'\n"),
    meta: { priority: "low", role: "webserver" },
    launchIndex: 0,
    availabilityZone: "nova",
    flavor: "m1.small",
    securityGroups: ["default"],
    reservationId: "r-abcd1234",
    password: null,
    createdAt: 0,
    ...over,
  };
}

export function vif(over: Partial<Vif> = {}): Vif {
  return {
    ...V,
    id: "vif-1",
    mac: "fa:16:3e:00:00:01",
    instanceUuid: "d8e02d56-2648-49a3-bf97-6be8f1204f38",
    networkId: "net-1",
    address: "10.0.0.5",
    addressV6: "fd00:1::f816:3eff:fe00:1",
    host: "node-a",
    index: 0,
    ...over,
  };
}

export function keypair(over: Partial<Keypair> = {}): Keypair {
  return {
    ...V,
    name: "mykey",
    publicKey: "ssh-rsa AAAAB3NzaC1yc2E mykey@host",
    fingerprint: "aa:bb",
    type: "ssh",
    ...over,
  };
}

/** A complete view: one NIC on `net`, one floating IP, the keypair, group `default`. */
export function view(
  over: { instance?: Partial<Instance>; vif?: Partial<Vif>; net?: Partial<Network> } = {},
): InstanceView {
  const inst = instance(over.instance);
  return {
    instance: inst,
    vifs: [{ vif: vif({ instanceUuid: inst.uuid, ...over.vif }), network: network(over.net) }],
    floatingIps: ["203.0.113.10"],
    keypairs: [keypair()],
    securityGroups: [...inst.securityGroups],
    imageId: "0a1b2c3d-0000-4000-8000-000000000000",
    rootDeviceName: "/dev/vda",
  };
}
