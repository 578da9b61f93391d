/**
 * Port 53 on netlet's bridges: the instance DNS server binds each bridge's host address. A
 * dnsmasq that answers DNS on the wildcard address (no bind-interfaces), or on a served bridge,
 * holds that port, and the listener then reports "address in use" in `netlet status`.
 */
import { configFilesOf, confValues, isDnsmasq, optionValues, parseDnsmasq, servedBy } from "./check-conflicts.ts";
import type { CheckResult, DoctorTarget, HostFacts } from "./types.ts";

export function checkDnsPort(f: HostFacts, t: DoctorTarget): CheckResult[] {
  if (t.dnsService === false) return [];
  const out: CheckResult[] = [];
  for (const p of f.processes.filter(isDnsmasq)) {
    const files = Object.values(p.files);
    const port = [...optionValues(p.argv, "port", "p"), ...files.flatMap((text) => confValues(text, "port"))];
    if (port.includes("0")) continue; // DNS off: a DHCP-only dnsmasq
    const flag = (long: string, short: string | null) =>
      p.argv.includes(`--${long}`) ||
      (short !== null && p.argv.includes(`-${short}`)) ||
      files.some((text) => confValues(text, long).length > 0);
    const bound = flag("bind-interfaces", "z") || flag("bind-dynamic", null);
    const where = `${configFilesOf(p).join(", ")} or its command line`;
    if (!bound) {
      out.push({
        id: "dns-conflict",
        status: "warn",
        summary: `dnsmasq (pid ${p.pid}) answers DNS on the wildcard address: netlet's DNS server cannot bind port 53 on ${t.bridges.join(", ") || "its bridges"}`,
        fix: `add bind-interfaces (with interface= or listen-address= for the addresses it should serve) in ${where}, or port=0 if it should not answer DNS, or set dns_service = false`,
      });
      continue;
    }
    // Bound to each interface's addresses: to every interface when it names none.
    const hit = servedBy(parseDnsmasq(p), t.bridges);
    if (hit.length) {
      out.push({
        id: "dns-conflict",
        status: "fail",
        summary: `dnsmasq (pid ${p.pid}) answers DNS on ${hit.join(", ")}, where netlet's DNS server must listen`,
        fix: `exclude ${hit.join(", ")} (except-interface=) in ${where}, or set dns_service = false`,
      });
    }
  }
  if (!out.length)
    out.push({
      id: "dns-port",
      status: "ok",
      summary: `no other DNS server holds port 53 on ${t.bridges.join(", ") || "netlet's bridges"}`,
    });
  return out;
}
