/** netlet doctor's port-53 check: dnsmasq instances that would keep the DNS server off the bridges. */
import { describe, expect, test } from "bun:test";
import { checkDnsPort } from "../../src/doctor/check-dns.ts";
import type { DoctorTarget, HostFacts, ProcessFact } from "../../src/doctor/types.ts";

const target: DoctorTarget = {
  firewallDriver: "nftables",
  useIpv6: false,
  sendArpForHa: false,
  publicInterface: "eth0",
  bridges: ["br100"],
  bridgesFrom: "the agent",
  statePath: "/x",
  adminSocket: "/y/s",
};
const facts = (...processes: ProcessFact[]) => ({ processes }) as unknown as HostFacts;
const dnsmasq = (argv: string[], conf = "") => ({
  pid: 7,
  argv: ["/usr/sbin/dnsmasq", ...argv],
  files: { "/etc/dnsmasq.conf": conf },
});
const ids = (r: { id: string; status: string }[]) => r.map((c) => `${c.id}:${c.status}`);

describe("doctor: port 53 on the bridges", () => {
  test("a wildcard dnsmasq warns; one bound to a served bridge fails; one bound elsewhere or DHCP-only passes", () => {
    expect(ids(checkDnsPort(facts(dnsmasq([])), target))).toEqual(["dns-conflict:warn"]);
    expect(ids(checkDnsPort(facts(dnsmasq(["--bind-interfaces", "--interface=br100"])), target))).toEqual([
      "dns-conflict:fail",
    ]);
    expect(ids(checkDnsPort(facts(dnsmasq([], "bind-interfaces\ninterface=virbr0\n")), target))).toEqual([
      "dns-port:ok",
    ]);
    expect(ids(checkDnsPort(facts(dnsmasq(["--port=0", "--dhcp-range=10.0.0.2,10.0.0.9"])), target))).toEqual([
      "dns-port:ok",
    ]);
    expect(ids(checkDnsPort(facts(dnsmasq(["-z", "--except-interface=br100"])), target))).toEqual(["dns-port:ok"]);
  });

  test("nothing to check when the DNS service is off", () => {
    expect(checkDnsPort(facts(dnsmasq([])), { ...target, dnsService: false })).toEqual([]);
  });
});
