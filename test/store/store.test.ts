import { describe, expect, test } from "bun:test";
import type { ChangeEvent } from "../../src/model.ts";
import { createNetworks, deleteNetwork, listNetworks } from "../../src/store/networks.ts";
import { bootInstance, deleteInstance, listVifs } from "../../src/store/instances.ts";
import { getFixedIp, listFixedIps, setReserved } from "../../src/store/fixed-ips.ts";
import { addKeypair } from "../../src/store/keypairs.ts";
import { addRule, createSecurityGroup, deleteSecurityGroup, listRules } from "../../src/store/secgroups.ts";
import {
  allocateFloatingIp,
  associateFloatingIp,
  createFloatingRange,
  deallocateFloatingIp,
  listFloatingIps,
} from "../../src/store/floating.ts";
import { Store } from "../../src/store/db.ts";
import { createLogger } from "../../src/log.ts";
import { bootParams, memStore, netParams, snapshot } from "./fixtures.ts";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl demo@host";

describe("store", () => {
  test("a failing change listener is logged and the writer and the other listeners carry on", () => {
    const logged: string[] = [];
    const s = new Store(":memory:", { nodeId: "node-a", log: createLogger({ write: (l) => logged.push(l) }) });
    const seen: number[] = [];
    s.subscribe(() => {
      throw new Error("listener broke");
    });
    s.subscribe((e) => seen.push(e.length));
    expect(() => createNetworks(s, netParams())).not.toThrow();
    expect(seen).toEqual([1]);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain('level=error msg="change listener failed" err="Error: listener broke"');
  });

  test("change events arrive after commit, once per changed row, and not at all on rollback", () => {
    const s = memStore();
    const seen: ChangeEvent[][] = [];
    s.subscribe((e) => seen.push([...e]));
    createNetworks(s, netParams());
    expect(seen).toHaveLength(1);
    expect(seen[0].map((e) => e.entity)).toEqual(["network"]);
    expect(() => createNetworks(s, netParams({ label: "b", cidr: "10.0.0.128/25" }))).toThrow("overlaps");
    expect(seen).toHaveLength(1);
    bootInstance(s, bootParams());
    const kinds = seen[1].map((e) => e.entity).sort();
    expect(kinds).toContain("instance");
    expect(kinds).toContain("vif");
    expect(kinds).toContain("fixed_ip");
    expect(seen[1].every((e) => e.remote === false)).toBe(true);
  });

  test("migrations run once and survive reopening a file", () => {
    const dir = `/tmp/netlet-store-${process.pid}-${Date.now()}`;
    const a = new Store(`${dir}/netlet.db`, { nodeId: "n" });
    createNetworks(a, netParams());
    a.close();
    const b = new Store(`${dir}/netlet.db`, { nodeId: "n" });
    expect(listNetworks(b).map((n) => n.label)).toEqual(["private"]);
    expect(b.db.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get()!.journal_mode).toBe("wal");
    b.close();
  });

  test("every replicated row carries origin, HLC and tombstone", () => {
    const s = memStore("node-x");
    createNetworks(s, netParams());
    const inst = bootInstance(s, bootParams());
    expect(inst.origin).toBe("node-x");
    expect(inst.hlc).toMatch(/^\d{15}\.\d{5}$/);
    deleteInstance(s, "vm1");
    const row = s.db
      .query<{ deleted: number; hlc: string }, [string]>("SELECT deleted, hlc FROM instances WHERE uuid = ?")
      .get(inst.uuid)!;
    expect(row.deleted).toBe(1);
    expect(row.hlc > inst.hlc).toBe(true);
  });

  test("multi_host: the host claims its gateway address, instances get the next ones, delete frees them", () => {
    const s = memStore();
    const [net] = createNetworks(s, netParams());
    const a = bootInstance(s, bootParams({ name: "a" }));
    const b = bootInstance(s, bootParams({ name: "b" }));
    expect(listFixedIps(s, { host: "node-a" }).map((f) => f.address)).toEqual(["10.0.0.2"]);
    expect(listVifs(s, { instanceUuid: a.uuid })[0].address).toBe("10.0.0.3");
    expect(listVifs(s, { instanceUuid: b.uuid })[0].address).toBe("10.0.0.4");
    deleteInstance(s, "a");
    expect(getFixedIp(s, "10.0.0.3", net.id).instanceUuid).toBeNull();
    // Least recently used first: the just-freed .3 goes to the back of the queue.
    const c = bootInstance(s, bootParams({ name: "c" }));
    expect(listVifs(s, { instanceUuid: c.uuid })[0].address).toBe("10.0.0.5");
  });

  test("a requested fixed IP, a chosen MAC, EUI-64 IPv6 and nova-style hostname", () => {
    const s = memStore();
    createNetworks(s, netParams({ cidrV6: "fd00:1::/64" }));
    const i = bootInstance(
      s,
      bootParams({ name: "Web Server_1", fixedIps: ["10.0.0.50"], macs: ["FA:16:3E:00:00:01"] }),
    );
    const [vif] = listVifs(s, { instanceUuid: i.uuid });
    expect(vif.address).toBe("10.0.0.50");
    expect(vif.mac).toBe("fa:16:3e:00:00:01");
    expect(vif.addressV6).toBe("fd00:1::f816:3eff:fe00:1");
    expect(i.hostname).toBe("web-server-1");
  });

  test("reserve flips the flag only: an address in use stays with its instance and is never handed out again", () => {
    const s = memStore();
    const [net] = createNetworks(s, netParams({ multiHost: false }));
    const i = bootInstance(s, bootParams());
    const addr = listVifs(s, { instanceUuid: i.uuid })[0].address!;
    setReserved(s, addr, true);
    expect(getFixedIp(s, addr, net.id).instanceUuid).toBe(i.uuid);
    setReserved(s, "10.0.0.3", true);
    const j = bootInstance(s, bootParams({ name: "vm2" }));
    expect(listVifs(s, { instanceUuid: j.uuid })[0].address).toBe("10.0.0.4");
  });

  test("rejected commands leave the store unchanged", () => {
    const s = memStore();
    createNetworks(s, netParams());
    bootInstance(s, bootParams({ macs: ["fa:16:3e:00:00:01"] }));
    addKeypair(s, "k", KEY);
    const before = snapshot(s);
    const rejects: [() => unknown, string][] = [
      [() => createNetworks(s, netParams({ label: "two", cidr: "10.0.0.0/25" })), "overlaps"],
      [
        () => createNetworks(s, netParams({ label: "three", cidr: "10.9.0.0/24", fixedCidr: "10.8.0.0/24" })),
        "is not inside",
      ],
      [() => bootInstance(s, bootParams({ name: "x", macs: ["fa:16:3e:00:00:01"] })), "already in use"],
      [() => bootInstance(s, bootParams({ name: "x", fixedIps: ["10.0.0.3"] })), "already in use"],
      [() => bootInstance(s, bootParams({ name: "x", fixedIps: ["10.0.0.1"] })), "is reserved"],
      [() => bootInstance(s, bootParams({ name: "x", networks: ["nope"] })), "network nope not found"],
      [() => bootInstance(s, bootParams({ name: "x", keyName: "missing" })), "keypair missing not found"],
      [() => bootInstance(s, bootParams({ name: "x", userData: new Uint8Array(65536) })), "at most 65535"],
      [() => bootInstance(s, bootParams({ name: "x", securityGroups: ["nope"] })), "security group nope not found"],
      [() => addKeypair(s, "bad", "ssh-rsa !!!notbase64"), "not base64"],
      [() => addKeypair(s, "bad", "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQC"), "does not hold a ssh-ed25519 key"],
      [() => addKeypair(s, "k", KEY), "already exists"],
      [() => deleteNetwork(s, "private"), "still has 1 instance"],
      [() => createFloatingRange(s, "nova", "203.0.113.0/31", "eth0"), "fewer than 4"],
    ];
    for (const [fn, msg] of rejects) {
      expect(fn).toThrow(msg);
      expect(snapshot(s)).toBe(before);
    }
  });

  test("security groups: nova's rule validation, group rules, egress, delete refused while used", () => {
    const s = memStore();
    createNetworks(s, netParams());
    createSecurityGroup(s, "web", "web servers", "admin");
    addRule(s, "web", "admin", {
      direction: "ingress",
      protocol: "tcp",
      fromPort: 80,
      toPort: 80,
      cidr: "0.0.0.0/0",
      sourceGroup: null,
    });
    addRule(s, "web", "admin", {
      direction: "ingress",
      protocol: "icmp",
      fromPort: -1,
      toPort: -1,
      cidr: null,
      sourceGroup: null,
    });
    addRule(s, "web", "admin", {
      direction: "ingress",
      protocol: "tcp",
      fromPort: 22,
      toPort: 22,
      cidr: null,
      sourceGroup: "web",
    });
    addRule(s, "web", "admin", {
      direction: "egress",
      protocol: "udp",
      fromPort: 53,
      toPort: 53,
      cidr: "::/0",
      sourceGroup: null,
    });
    const rules = listRules(s, createSecurityGroupId(s, "web"));
    expect(rules.map((r) => [r.direction, r.protocol, r.fromPort, r.toPort, r.cidr, r.ethertype])).toEqual([
      ["egress", "udp", 53, 53, "::/0", "IPv6"],
      ["ingress", "icmp", -1, -1, "0.0.0.0/0", "IPv4"],
      ["ingress", "tcp", 22, 22, null, "IPv4"],
      ["ingress", "tcp", 80, 80, "0.0.0.0/0", "IPv4"],
    ]);
    expect(() =>
      addRule(s, "web", "admin", {
        direction: "ingress",
        protocol: "tcp",
        fromPort: 90,
        toPort: 80,
        cidr: null,
        sourceGroup: null,
      }),
    ).toThrow("greater than");
    expect(() =>
      addRule(s, "web", "admin", {
        direction: "ingress",
        protocol: "gre",
        fromPort: 1,
        toPort: 1,
        cidr: null,
        sourceGroup: null,
      }),
    ).toThrow("use tcp, udp or icmp");
    expect(() =>
      addRule(s, "web", "admin", {
        direction: "ingress",
        protocol: "icmp",
        fromPort: 256,
        toPort: 0,
        cidr: null,
        sourceGroup: null,
      }),
    ).toThrow("out of range");
    bootInstance(s, bootParams({ securityGroups: ["web"] }));
    expect(() => deleteSecurityGroup(s, "web", "admin")).toThrow("in use by vm1");
  });

  test("floating IPs: CIDR ranges skip network/broadcast, allocate, associate, refuse release while associated", () => {
    const s = memStore();
    createNetworks(s, netParams());
    const i = bootInstance(s, bootParams());
    expect(createFloatingRange(s, "nova", "203.0.113.0/30", "eth0").map((f) => f.address)).toEqual([
      "203.0.113.1",
      "203.0.113.2",
    ]);
    const f = allocateFloatingIp(s, "nova", "admin");
    expect(f.address).toBe("203.0.113.1");
    const a = associateFloatingIp(s, "vm1", f.address);
    expect(a.fixedAddress).toBe(listVifs(s, { instanceUuid: i.uuid })[0].address);
    expect(a.host).toBe("node-a");
    expect(() => deallocateFloatingIp(s, f.address)).toThrow("disassociate it first");
    expect(() => allocateFloatingIp(s, "other", "admin")).toThrow("pool other not found");
    deleteInstance(s, "vm1");
    expect(listFloatingIps(s)[0].instanceUuid).toBeNull();
  });
});

function createSecurityGroupId(s: Store, name: string): string {
  return s.db
    .query<{ id: string }, [string]>("SELECT id FROM security_groups WHERE name = ? AND deleted = 0")
    .get(name)!.id;
}
