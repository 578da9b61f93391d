import { describe, expect, test } from "bun:test";
import { dataplaneShow } from "../../src/dataplane/show.ts";
import { small } from "./fixture.ts";

describe("dataplaneShow", () => {
  test("lists per instance its binding, groups, egress filtering, floating IPs and chains", () => {
    const s = dataplaneShow(small(), { "drop-ingress": 3 });
    expect(s.driver).toBe("nftables");
    expect(s.snat).toBe("snat to 203.0.113.1 out eth0");
    const a = s.instances.find((i) => i.uuid === "vm-a")!;
    expect(a.vifs[0]).toMatchObject({ port: "vnet0", ipv4: "10.0.0.10", antiSpoofing: "bound" });
    expect(a.groups[0].ingress).toEqual([
      "meta nfproto ipv4 tcp dport 22 accept",
      "meta nfproto ipv4 meta l4proto icmp accept",
    ]);
    expect(a.egressFiltered).toBe(false);
    expect(a.floatingIps.map((f) => f.address)).toEqual(["203.0.113.10"]);
    expect(a.chains).toEqual(["inet netlet p-0861560679-in"]);
    const b = s.instances.find((i) => i.uuid === "vm-b")!;
    expect(b.egressFiltered).toBe(true);
    expect(b.chains).toEqual(["inet netlet p-529784ee83-in", "inet netlet p-529784ee83-out"]);
    expect(s.drops).toEqual({ "drop-ingress": 3 });
  });
});
