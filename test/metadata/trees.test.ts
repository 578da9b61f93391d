import { describe, expect, test } from "bun:test";
import { view } from "./fixtures.ts";
import { makeApp } from "./helpers.ts";

const EC2_VERSIONS =
  "1.0\n2007-01-19\n2007-03-01\n2007-08-29\n2007-10-10\n2007-12-15\n2008-02-01\n2008-09-01\n2009-04-04\nlatest";
const OS_VERSIONS =
  "2012-08-10\n2013-04-04\n2013-10-17\n2015-10-15\n2016-06-30\n2016-10-06\n2017-02-22\n2018-08-27\nlatest";

describe("EC2 tree", () => {
  test("/ lists the EC2 versions before identifying the caller", async () => {
    const { get } = makeApp();
    expect(await get("/", "192.0.2.99")).toEqual({
      status: 200,
      body: EC2_VERSIONS,
      type: "text/plain; charset=utf-8",
    });
    expect((await get("/ec2")).body).toBe(EC2_VERSIONS);
    expect((await get("/foo/..//")).body).toBe(EC2_VERSIONS);
  });

  test("a version lists meta-data/ and user-data only when there is user data", async () => {
    const { get, source } = makeApp();
    expect((await get("/2009-04-04")).body).toBe("meta-data/\nuser-data");
    expect((await get("/ec2/latest/")).body).toBe("meta-data/\nuser-data");
    source.put(
      view({
        instance: { userData: null, uuid: "11111111-2222-4333-8444-555555555555" },
        vif: { address: "10.0.0.6" },
      }),
    );
    expect((await get("/ec2/latest/", "10.0.0.6")).body).toBe("meta-data/");
  });

  test("2009-04-04 meta-data listing matches nova's documented order", async () => {
    const { get } = makeApp();
    expect((await get("/2009-04-04/meta-data/")).body).toBe(
      [
        "ami-id",
        "ami-launch-index",
        "ami-manifest-path",
        "block-device-mapping/",
        "hostname",
        "instance-action",
        "instance-id",
        "instance-type",
        "local-hostname",
        "local-ipv4",
        "placement/",
        "public-hostname",
        "public-ipv4",
        "public-keys/",
        "reservation-id",
        "security-groups",
      ].join("\n"),
    );
    expect((await get("/latest/meta-data")).body).toBe((await get("/2009-04-04/meta-data/")).body);
  });

  test("keys appear by version as nova added them", async () => {
    const { get } = makeApp();
    expect((await get("/1.0/meta-data/")).body).toBe(
      "ami-id\nami-launch-index\nami-manifest-path\nhostname\ninstance-id\nlocal-ipv4\npublic-keys/\nreservation-id\nsecurity-groups",
    );
    const v0119 = (await get("/2007-01-19/meta-data/")).body.split("\n");
    expect(v0119).toContain("public-ipv4");
    expect(v0119).not.toContain("instance-type");
    expect((await get("/2007-08-29/meta-data/")).body.split("\n")).toContain("instance-type");
    expect((await get("/2007-10-10/meta-data/")).body.split("\n")).not.toContain("block-device-mapping/");
    expect((await get("/2007-12-15/meta-data/")).body.split("\n")).toContain("block-device-mapping/");
    expect((await get("/2008-02-01/meta-data/")).body.split("\n")).toContain("placement/");
    expect((await get("/2008-02-01/meta-data/")).body.split("\n")).not.toContain("instance-action");
    expect((await get("/2008-09-01/meta-data/instance-action")).body).toBe("none");
    expect((await get("/1.0/meta-data/public-ipv4")).status).toBe(404);
  });

  test("leaves render as nova does", async () => {
    const { get } = makeApp();
    const leaf = async (p: string) => (await get(`/latest/meta-data/${p}`)).body;
    expect(await leaf("ami-id")).toBe("ami-0a1b2c3d");
    expect(await leaf("instance-id")).toBe("i-d8e02d56");
    expect(await leaf("ami-launch-index")).toBe("0");
    expect(await leaf("ami-manifest-path")).toBe("FIXME");
    expect(await leaf("hostname")).toBe("test.novalocal");
    expect(await leaf("local-hostname")).toBe("test.novalocal");
    expect(await leaf("public-hostname")).toBe("test.novalocal");
    expect(await leaf("local-ipv4")).toBe("10.0.0.5");
    expect(await leaf("public-ipv4")).toBe("203.0.113.10");
    expect(await leaf("reservation-id")).toBe("r-abcd1234");
    expect(await leaf("security-groups")).toBe("default");
    expect(await leaf("instance-type")).toBe("m1.small");
    expect(await leaf("placement")).toBe("availability-zone");
    expect(await leaf("placement/availability-zone")).toBe("nova");
    expect(await leaf("block-device-mapping")).toBe("ami\nroot");
    expect(await leaf("block-device-mapping/root")).toBe("/dev/vda");
    expect(await leaf("public-keys")).toBe("0=mykey");
    expect(await leaf("public-keys/0")).toBe("openssh-key");
    expect(await leaf("public-keys/0/openssh-key")).toBe("ssh-rsa AAAAB3NzaC1yc2E mykey@host");
  });

  test("user-data is byte-exact; unknown paths are 404, never 500", async () => {
    const { get, req } = makeApp();
    const ud = await req("/2009-04-04/user-data");
    expect(new Uint8Array(await ud.arrayBuffer())).toEqual(
      new TextEncoder().encode("#!/bin/bash\necho 'Extra user data here'\n"),
    );
    for (const p of [
      "/2009-04-04/meta-data/nope",
      "/2009-04-04/meta-data/security-groups/default",
      "/2009-04-04/meta-data/hostname/x",
      "/2009-04-04/meta-data/public-keys/0=mykey",
      "/2009-04-04/meta-data/public-keys/0/_name",
      "/2021-03-23/meta-data/instance-id",
      "/2009-04-04/dynamic/instance-identity/document",
      "/%E0%A4%A",
    ]) {
      expect([p, (await get(p)).status]).toEqual([p, p === "/%E0%A4%A" ? 400 : 404]);
    }
  });

  test("public-ipv4 is empty without a floating IP; no public-keys without a key", async () => {
    const { get, source } = makeApp();
    source.put({ ...view({ instance: { keyName: null, keyData: null } }), floatingIps: [] });
    expect(await get("/latest/meta-data/public-ipv4")).toMatchObject({ status: 200, body: "" });
    expect((await get("/latest/meta-data/")).body.split("\n")).not.toContain("public-keys/");
    expect((await get("/latest/meta-data/public-keys")).status).toBe(404);
  });

  test("an unknown source gets 404", async () => {
    const { get } = makeApp();
    expect((await get("/latest/meta-data/instance-id", "10.0.0.77")).status).toBe(404);
    expect((await get("/latest/meta-data/instance-id", "not-an-ip")).status).toBe(404);
  });
});

describe("OpenStack tree", () => {
  test("/openstack lists versions then latest; each version lists nova's files in order", async () => {
    const { get } = makeApp();
    expect(await get("/openstack")).toEqual({ status: 200, body: OS_VERSIONS, type: "text/plain; charset=utf-8" });
    expect((await get("/openstack/2012-08-10")).body).toBe("meta_data.json\nuser_data");
    expect((await get("/openstack/2013-04-04")).body).toBe("meta_data.json\nuser_data\npassword");
    expect((await get("/openstack/2013-10-17")).body).toBe("meta_data.json\nuser_data\npassword\nvendor_data.json");
    expect((await get("/openstack/2015-10-15/")).body).toBe(
      "meta_data.json\nuser_data\npassword\nvendor_data.json\nnetwork_data.json",
    );
    const all = "meta_data.json\nuser_data\npassword\nvendor_data.json\nnetwork_data.json\nvendor_data2.json";
    for (const v of ["2016-10-06", "2017-02-22", "2018-08-27", "latest"])
      expect((await get(`/openstack/${v}`)).body).toBe(all);
    expect((await get("/openstack/2019-01-01")).status).toBe(404);
    expect((await get("/openstack/latest/nope")).status).toBe(404);
    expect((await get("/openstack/latest/meta_data.json/x")).status).toBe(404);
  });

  test("meta_data.json carries nova's keys per version", async () => {
    const { get } = makeApp();
    const folsom = JSON.parse((await get("/openstack/2012-08-10/meta_data.json")).body);
    expect(Object.keys(folsom)).toEqual([
      "uuid",
      "meta",
      "public_keys",
      "keys",
      "hostname",
      "name",
      "launch_index",
      "availability_zone",
    ]);
    expect(folsom).toMatchObject({
      uuid: "d8e02d56-2648-49a3-bf97-6be8f1204f38",
      hostname: "test.novalocal",
      name: "test",
      launch_index: 0,
      availability_zone: "nova",
      meta: { priority: "low", role: "webserver" },
      public_keys: { mykey: "ssh-rsa AAAAB3NzaC1yc2E mykey@host" },
      keys: [{ name: "mykey", type: "ssh", data: "ssh-rsa AAAAB3NzaC1yc2E mykey@host" }],
    });
    const res = await get("/openstack/latest/meta_data.json");
    expect(res.type).toBe("application/json");
    const latest = JSON.parse(res.body);
    expect(Object.keys(latest)).toEqual([...Object.keys(folsom), "random_seed", "project_id", "devices"]);
    expect(Buffer.from(latest.random_seed, "base64").length).toBe(512);
    expect(latest.project_id).toBe("f7ac731cc11f40efbc03a9f9e1d1d21f");
    expect(latest.devices).toEqual([]);
    expect(Object.keys(JSON.parse((await get("/openstack/2013-04-04/meta_data.json")).body))).toContain("random_seed");
    expect(Object.keys(JSON.parse((await get("/openstack/2013-10-17/meta_data.json")).body))).not.toContain(
      "project_id",
    );
  });

  test("random_seed is fresh on every request even when the document is cached", async () => {
    const { get } = makeApp();
    const a = JSON.parse((await get("/openstack/latest/meta_data.json")).body).random_seed;
    const b = JSON.parse((await get("/openstack/latest/meta_data.json")).body).random_seed;
    expect(a).not.toBe(b);
  });

  test("dhcp_domain empty gives the bare hostname", async () => {
    const { get } = makeApp({ dhcpDomain: "" });
    expect(JSON.parse((await get("/openstack/latest/meta_data.json")).body).hostname).toBe("test");
    expect((await get("/latest/meta-data/hostname")).body).toBe("test");
  });

  test("user_data is raw, served for any valid version, 404 when absent", async () => {
    const { get, source } = makeApp();
    expect((await get("/openstack/2012-08-10/user_data")).body).toBe("#!/bin/bash\necho 'Extra user data here'\n");
    source.put(
      view({
        instance: { userData: null, uuid: "11111111-2222-4333-8444-555555555555" },
        vif: { address: "10.0.0.6" },
      }),
    );
    expect((await get("/openstack/latest/user_data", "10.0.0.6")).status).toBe(404);
    expect((await get("/openstack/latest", "10.0.0.6")).body.split("\n")).not.toContain("user_data");
    expect((await get("/2009-04-04", "10.0.0.6")).body).toBe("meta-data/");
    expect((await get("/2009-04-04/user-data", "10.0.0.6")).status).toBe(404);
  });

  test("files below their version are 404", async () => {
    const { get } = makeApp();
    expect((await get("/openstack/2012-08-10/password")).status).toBe(404);
    expect((await get("/openstack/2013-04-04/vendor_data.json")).status).toBe(404);
    expect((await get("/openstack/2016-06-30/vendor_data2.json")).status).toBe(404);
    // nova serves network_data.json for any valid version
    expect((await get("/openstack/2012-08-10/network_data.json")).status).toBe(200);
  });

  test("network_data.json describes the NICs: dhcp, slaac, MTU, DNS", async () => {
    const { get } = makeApp();
    const res = await get("/openstack/latest/network_data.json");
    expect(res.type).toBe("text/plain; charset=utf-8");
    expect(JSON.parse(res.body)).toEqual({
      links: [
        { id: "interface0", vif_id: "vif-1", type: "bridge", mtu: 1450, ethernet_mac_address: "fa:16:3e:00:00:01" },
      ],
      networks: [
        { id: "network0", link: "interface0", network_id: "net-1", type: "ipv4_dhcp" },
        { id: "network1", link: "interface0", network_id: "net-1", type: "ipv6_slaac" },
      ],
      services: [
        { type: "dns", address: "8.8.8.8" },
        { type: "dns", address: "8.8.4.4" },
      ],
    });
  });

  test("network_data.json for a static (no DHCP) network carries address, netmask and routes", async () => {
    const { get, source } = makeApp();
    source.put(view({ net: { enableDhcp: false, mtu: null } }));
    const nd = JSON.parse((await get("/openstack/latest/network_data.json")).body);
    expect(nd.links[0].mtu).toBeNull();
    expect(nd.networks).toEqual([
      {
        id: "network0",
        link: "interface0",
        network_id: "net-1",
        type: "ipv4",
        ip_address: "10.0.0.5",
        netmask: "255.255.255.0",
        routes: [{ network: "0.0.0.0", netmask: "0.0.0.0", gateway: "10.0.0.1" }],
      },
      {
        id: "network1",
        link: "interface0",
        network_id: "net-1",
        type: "ipv6",
        ip_address: "fd00:1::f816:3eff:fe00:1",
        netmask: "ffff:ffff:ffff:ffff::",
        routes: [{ network: "::", netmask: "::", gateway: "fd00:1::1" }],
      },
    ]);
  });
});
