/**
 * The real metadata server in a host namespace, guests in VM namespaces reaching it through an
 * nft DNAT of 169.254.169.254:80 (the dataplane owns the product's rule; this test adds its own
 * in its own namespace), and Debian's cloud-init crawling it with its own datasources.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Lab, nsRun, requireNetns, run, waitFor } from "../harness/netns.ts";
import { view } from "./fixtures.ts";

const BUN = process.execPath;
const FIXTURE = join(import.meta.dir, "serve-fixture.ts");
const CRAWL = join(import.meta.dir, "cloudinit_crawl.py");
const PORT = 8775;

interface Guest {
  ns: string;
  mac: string;
  address: string;
  uuid: string;
  hostname: string;
}

/** A fixture view as the spec file carries it (user data as text). */
function specView(
  uuid: string,
  hostname: string,
  address: string,
  mac: string,
  net: { id: string; cidr: string; gateway: string },
) {
  const v = view({
    instance: {
      uuid,
      hostname,
      name: hostname,
      keyName: `key-${hostname}`,
      keyData: `ssh-ed25519 AAAA${hostname} ${hostname}@lab`,
    },
    vif: { id: `vif-${hostname}`, mac, address, addressV6: null, networkId: net.id },
    net: { id: net.id, cidr: net.cidr, gateway: net.gateway, dhcpServer: net.gateway, cidrV6: null },
  });
  const { userData: _, ...instance } = v.instance;
  return {
    ...v,
    keypairs: [],
    floatingIps: [`203.0.113.${address.split(".")[3]}`],
    instance: { ...instance, userDataText: `#cloud-config\nhostname: ${hostname}\n` },
  };
}

describe.skipIf(!requireNetns())("metadata server in the lab", () => {
  const lab = new Lab();
  const guests: Guest[] = [];
  let host = "";

  beforeAll(async () => {
    host = lab.addNamespace("nlmdh");
    const nets = [
      { id: "net-a", cidr: "10.70.0.0/24", gateway: "10.70.0.1", bridge: "brmda" },
      { id: "net-b", cidr: "10.71.0.0/24", gateway: "10.71.0.1", bridge: "brmdb" },
    ];
    const plan = [
      {
        net: nets[0],
        address: "10.70.0.5",
        mac: "fa:16:3e:70:00:05",
        hostname: "alpha",
        uuid: "aaaaaaaa-0000-4000-8000-000000000005",
      },
      {
        net: nets[0],
        address: "10.70.0.6",
        mac: "fa:16:3e:70:00:06",
        hostname: "bravo",
        uuid: "bbbbbbbb-0000-4000-8000-000000000006",
      },
      {
        net: nets[1],
        address: "10.71.0.5",
        mac: "fa:16:3e:71:00:05",
        hostname: "charlie",
        uuid: "cccccccc-0000-4000-8000-000000000005",
      },
    ];
    const dnat: string[] = [];
    for (const n of nets) {
      lab.addBridge(host, n.bridge, [`${n.gateway}/24`]);
      dnat.push(`iifname "${n.bridge}" ip daddr 169.254.169.254 tcp dport 80 dnat to ${n.gateway}:${PORT}`);
    }
    nsRun(host, ["nft", "-f", "-"], {
      input: `table ip nlmdtest {\n chain prerouting {\n  type nat hook prerouting priority dstnat;\n  ${dnat.join("\n  ")}\n }\n}\n`,
    });
    for (const p of plan) {
      const vm = lab.addVm(host, { bridge: p.net.bridge, mac: p.mac });
      nsRun(vm.ns, ["ip", "addr", "add", `${p.address}/24`, "dev", "eth0"]);
      nsRun(vm.ns, ["ip", "route", "add", "default", "via", p.net.gateway]);
      // cloud-init resolves made-up names to detect DNS hijacking; a guest without DNS would
      // wait out resolver timeouts. `ip netns exec` mounts this file as the guest's resolv.conf.
      mkdirSync(`/etc/netns/${vm.ns}`, { recursive: true });
      writeFileSync(`/etc/netns/${vm.ns}/resolv.conf`, "nameserver 127.0.0.1\n");
      guests.push({ ns: vm.ns, mac: p.mac, address: p.address, uuid: p.uuid, hostname: p.hostname });
    }
    const dir = mkdtempSync(join(tmpdir(), "nlmd-"));
    const spec = join(dir, "spec.json");
    writeFileSync(
      spec,
      JSON.stringify({
        listen: nets.map((n) => n.gateway),
        port: PORT,
        networks: Object.fromEntries(nets.map((n) => [n.gateway, n.id])),
        views: plan.map((p) => specView(p.uuid, p.hostname, p.address, p.mac, p.net)),
      }),
    );
    const proc = lab.spawn(host, [BUN, FIXTURE, spec]);
    const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
    const first = await Promise.race([reader.read(), Bun.sleep(10000).then(() => null)]);
    expect(new TextDecoder().decode(first?.value ?? new Uint8Array())).toContain("ready");
    // Keep draining the access log so the server never blocks on a full pipe.
    void (async () => {
      while (!(await reader.read()).done);
    })();
    const up = await waitFor(
      () => nsRun(guests[0].ns, ["curl", "-s", "-m", "2", "http://169.254.169.254/"], { check: false }).code === 0,
      5000,
    );
    expect(up).toBe(true);
  }, 30_000);

  afterAll(async () => {
    await lab.cleanup();
    for (const g of guests) rmSync(`/etc/netns/${g.ns}`, { recursive: true, force: true });
  });

  const curl = (g: Guest, path: string, extra: string[] = []) =>
    nsRun(g.ns, ["curl", "-s", "-m", "3", "-w", "\n%{http_code}", ...extra, `http://169.254.169.254${path}`], {
      check: false,
    }).stdout;

  test("through the DNAT each guest gets its own data and never another's", () => {
    for (const g of guests) {
      expect(curl(g, "/openstack/latest/meta_data.json").split("\n").pop()).toBe("200");
      const md = JSON.parse(curl(g, "/openstack/latest/meta_data.json").split("\n")[0]);
      expect([md.uuid, md.hostname]).toEqual([g.uuid, `${g.hostname}.novalocal`]);
      expect(curl(g, "/latest/meta-data/local-ipv4")).toBe(`${g.address}\n200`);
      expect(curl(g, "/latest/meta-data/public-keys/0/openssh-key")).toBe(
        `ssh-ed25519 AAAA${g.hostname} ${g.hostname}@lab\n200`,
      );
    }
  });

  test("a guest that takes another's address on another network gets nothing", () => {
    // charlie (net-b) claims alpha's address: its requests arrive on net-b's listener.
    const charlie = guests[2];
    nsRun(charlie.ns, ["ip", "addr", "add", "10.70.0.5/32", "dev", "eth0"]);
    try {
      const argv = [
        "curl",
        "-s",
        "-m",
        "2",
        "--interface",
        "10.70.0.5",
        "-w",
        "\n%{http_code}",
        "http://169.254.169.254/latest/meta-data/instance-id",
      ];
      const out = nsRun(charlie.ns, argv, { check: false }).stdout;
      // The request reaches net-b's listener, which knows no 10.70.0.5 (404); the host routes
      // any answer towards net-a anyway. Either way charlie never reads alpha's data.
      expect(out).not.toContain("i-aaaaaaaa");
      expect(out.endsWith("\n200")).toBe(false);
    } finally {
      nsRun(charlie.ns, ["ip", "addr", "del", "10.70.0.5/32", "dev", "eth0"], { check: false });
    }
  });

  test("IMDSv2: token PUT, token bound to its guest, responses leave with IP TTL 1", async () => {
    const [alpha, bravo] = guests;
    const capture = lab.spawn(
      alpha.ns,
      ["tcpdump", "-l", "-n", "-v", "-c", "3", "-i", "eth0", "tcp src port 80 and tcp[tcpflags] & tcp-push != 0"],
      { stderr: "pipe" },
    );
    // Send only once tcpdump is capturing (it says so on stderr).
    const errs = capture.stderr as ReadableStream<Uint8Array>;
    const errReader = errs.getReader();
    let said = "";
    while (!said.includes("listening on")) {
      const chunk = await Promise.race([
        errReader.read(),
        Bun.sleep(5000).then(() => ({ done: true, value: undefined })),
      ]);
      if (chunk.done) break;
      said += new TextDecoder().decode(chunk.value);
    }
    expect(said).toContain("listening on");
    const put = curl(alpha, "/latest/api/token", ["-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 60"]);
    const [token, code] = put.split("\n");
    expect(code).toBe("200");
    expect(curl(alpha, "/latest/meta-data/instance-id", ["-H", `X-aws-ec2-metadata-token: ${token}`])).toBe(
      "i-aaaaaaaa\n200",
    );
    expect(curl(bravo, "/latest/meta-data/instance-id", ["-H", `X-aws-ec2-metadata-token: ${token}`])).toBe(
      "Unauthorized\n401",
    );
    curl(alpha, "/latest/meta-data/hostname");
    const dump = await Promise.race([
      new Response(capture.stdout as ReadableStream<Uint8Array>).text(),
      Bun.sleep(5000).then(() => ""),
    ]);
    const ttls = [...dump.matchAll(/ttl (\d+)/g)].map((m) => m[1]);
    expect(ttls.length).toBeGreaterThan(0);
    expect(new Set(ttls)).toEqual(new Set(["1"]));
  }, 20_000);

  for (const i of [0, 2]) {
    test(`Debian cloud-init's OpenStack and EC2 datasources crawl guest ${i} through 169.254.169.254`, async () => {
      const g = guests[i];
      const proc = Bun.spawn(
        ["ip", "netns", "exec", g.ns, "/usr/bin/python3", CRAWL, "http://169.254.169.254", g.mac],
        { stdout: "pipe", stderr: "pipe" },
      );
      const res = { stdout: await new Response(proc.stdout).text(), stderr: await new Response(proc.stderr).text() };
      await proc.exited;
      const line = res.stdout.split("\n").find((l) => l.startsWith("RESULT "));
      expect(line, res.stderr.slice(-2000)).toBeDefined();
      const out = JSON.parse(line!.slice(7));
      const keys = [`ssh-ed25519 AAAA${g.hostname} ${g.hostname}@lab`];
      const userdata = `#cloud-config\nhostname: ${g.hostname}\n`;
      expect(out.openstack).toMatchObject({
        ok: true,
        instance_id: g.uuid,
        hostname: `${g.hostname}.novalocal`,
        keys,
        userdata,
      });
      expect(out.openstack.net.config[0]).toMatchObject({
        type: "physical",
        mac_address: g.mac,
        name: "eth0",
        subnets: [{ type: "dhcp4" }],
      });
      expect(out.openstack.net.config.filter((c: { type: string }) => c.type === "nameserver").length).toBe(2);
      expect(out.ec2).toMatchObject({
        ok: true,
        instance_id: `i-${g.uuid.slice(0, 8)}`,
        hostname: `${g.hostname}.novalocal`,
        keys,
        userdata,
        local_ipv4: g.address,
        public_ipv4: `203.0.113.${g.address.split(".")[3]}`,
      });
    }, 60_000);
  }
});

void run;
