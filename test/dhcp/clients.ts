/**
 * Helpers for the real-client DHCP tests: a line collector for a process's stdout, the hook
 * scripts each client runs (they print their variables as one line and touch nothing outside
 * the VM namespace), and the host table written for the fixture server.
 */
import { mkdtempSync, writeFileSync, chmodSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename } from "node:path";
import type { Subprocess } from "bun";
import type { DhcpHost } from "../../src/dhcp/host.ts";
import { waitFor } from "../harness/netns.ts";

/** Collects a process's stdout lines as they arrive. */
export class Lines {
  readonly lines: string[] = [];
  constructor(proc: Subprocess) {
    const stream = proc.stdout as ReadableStream<Uint8Array>;
    void (async () => {
      let buf = "";
      const dec = new TextDecoder();
      for await (const chunk of stream) {
        buf += dec.decode(chunk);
        const parts = buf.split("\n");
        buf = parts.pop() ?? "";
        this.lines.push(...parts);
      }
    })();
  }
  json(): Record<string, any>[] {
    return this.lines.flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return [];
      }
    });
  }
  async waitJson(
    pred: (o: Record<string, any>) => boolean,
    timeoutMs = 10_000,
  ): Promise<Record<string, any> | undefined> {
    return waitFor(() => this.json().find(pred), timeoutMs, 50);
  }
}

export function tempDir(): string {
  return mkdtempSync(`${tmpdir()}/netlet-dhcp-`);
}

/** One script per output file: clients re-read it on every event. */
function script(dir: string, name: string, body: string): string {
  const p = `${dir}/${name}`;
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

/** udhcpc -s script: prints "<event> k=v …" to `out`, configures the address on bound/renew. */
export function udhcpcScript(dir: string, out: string): string {
  return script(
    dir,
    `udhcpc-${basename(out)}.sh`,
    `# Configure first, then report: a test that reads the report finds the address in place.
case "$1" in
  bound|renew) ip -4 addr flush dev $interface; ip addr add $ip/$mask dev $interface ;;
  deconfig) ip -4 addr flush dev $interface ;;
esac
echo "$1 ip=$ip subnet=$subnet router=$router dns=$dns domain=$domain search=$search mtu=$mtu lease=$lease serverid=$serverid hostname=$hostname staticroutes=$staticroutes broadcast=$broadcast" >> ${out}
exit 0`,
  );
}

/** dhclient -sf script. */
export function dhclientScript(dir: string, out: string): string {
  return script(
    dir,
    `dhclient-${basename(out)}.sh`,
    `case "$reason" in
  BOUND|RENEW|REBIND|REBOOT) ip -4 addr flush dev $interface; ip addr add $new_ip_address/$new_subnet_mask dev $interface ;;
esac
echo "$reason ip=$new_ip_address subnet=$new_subnet_mask router=$new_routers dns=$new_domain_name_servers domain=$new_domain_name search=$new_domain_search mtu=$new_interface_mtu lease=$new_dhcp_lease_time serverid=$new_dhcp_server_identifier hostname=$new_host_name staticroutes=$new_rfc3442_classless_static_routes" >> ${out}
exit 0`,
  );
}

/** dhcpcd -c script (dhcpcd configures the address and routes itself). */
export function dhcpcdScript(dir: string, out: string): string {
  return script(
    dir,
    `dhcpcd-${basename(out)}.sh`,
    `echo "$reason ip=$new_ip_address subnet=$new_subnet_mask router=$new_routers dns=$new_domain_name_servers domain=$new_domain_name search=$new_domain_search mtu=$new_interface_mtu lease=$new_dhcp_lease_time serverid=$new_dhcp_server_identifier hostname=$new_host_name staticroutes=$new_classless_static_routes" >> ${out}
exit 0`,
  );
}

/** A dhcpcd.conf asking for what a cloud guest needs, without hooks touching the machine. */
export function dhcpcdConf(dir: string): string {
  const p = `${dir}/dhcpcd.conf`;
  writeFileSync(
    p,
    [
      "option domain_name_servers, domain_name, domain_search, host_name",
      "option classless_static_routes",
      "option interface_mtu",
      "require dhcp_server_identifier",
      "noipv6rs",
      "noarp",
      "",
    ].join("\n"),
  );
  return p;
}

/** The script output lines, parsed to {event, vars}. */
export function events(out: string): { event: string; vars: Record<string, string> }[] {
  if (!existsSync(out)) return [];
  return readFileSync(out, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [event, ...rest] = line.split(" ");
      const vars: Record<string, string> = {};
      let key = "";
      for (const tok of rest) {
        const m = /^([a-z]+)=(.*)$/.exec(tok);
        if (m) {
          key = m[1];
          vars[key] = m[2];
        } else if (key) vars[key] += ` ${tok}`;
      }
      return { event, vars };
    });
}

export function writeTable(path: string, table: { bridge: string; hosts: DhcpHost[] }[]): void {
  writeFileSync(path, JSON.stringify(table));
}
