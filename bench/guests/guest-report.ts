/**
 * Pure readers for the Debian cloud-init bench: cloud-init's final console line, the agent's
 * metadata access log (JSON lines) for one guest, and what the guest answered over SSH.
 */

export interface Finished {
  /** The guest's uptime when cloud-init finished, as cloud-init printed it. */
  uptime: number;
  datasource: string;
}

/** cloud-init's final_message: "Cloud-init v. 22.4.2 finished at …. Datasource DataSourceOpenStack [net,ver=2].  Up 72.51 seconds". */
export function parseFinished(consoleText: string): Finished | null {
  const m = /Cloud-init v\. \S+ finished at [^\n]*?Datasource (\S+)[^\n]*?Up ([0-9.]+) seconds/.exec(consoleText);
  return m ? { datasource: m[1], uptime: Number(m[2]) } : null;
}

/** cloud-init.log's "2026-12-08 03:24:32,123 - file.py[DEBUG]: …" time of the first line containing `text`. */
function cloudInitLogTime(log: string, text: string): number | null {
  const l = log.split("\n").find((x) => x.includes(text));
  const m = l && /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3})/.exec(l);
  return m ? Date.parse(`${m[1]}T${m[2]}.${m[3]}Z`) : null;
}

/**
 * The guest's own view of its first DHCP exchange, from /var/log/cloud-init.log: cloud-init's
 * ephemeral DHCP (link up, dhclient DISCOVER … ACK, dhclient stopped), in seconds.
 */
export function guestDhcpSeconds(cloudInitLog: string): number | null {
  const start = cloudInitLogTime(cloudInitLog, "Performing a dhcp discovery on");
  const done = cloudInitLogTime(cloudInitLog, "Received dhcp lease on");
  return start === null || done === null ? null : (done - start) / 1000;
}

export interface MetadataRequests {
  count: number;
  refused: number;
  /** Wall-clock ms of the first and last request from this source. */
  first: number | null;
  last: number | null;
}

/** The agent's metadata access lines (`--log-format json`) from one source address. */
export function metadataRequests(agentLog: string, source: string): MetadataRequests {
  const out: MetadataRequests = { count: 0, refused: 0, first: null, last: null };
  for (const raw of agentLog.split("\n")) {
    if (!raw.includes(source)) continue;
    let e: { ts?: string; component?: string; msg?: string; source?: string; status?: number; count?: number };
    try {
      e = JSON.parse(raw);
    } catch {
      continue;
    }
    if (e.component !== "metadata" || e.source !== source) continue;
    if (e.msg === "more requests refused") {
      out.refused += e.count ?? 0;
      out.count += e.count ?? 0;
      continue;
    }
    if (e.msg !== "request" || !e.ts) continue;
    const t = Date.parse(e.ts);
    out.count += 1;
    if ((e.status ?? 0) >= 400) out.refused += 1;
    out.first ??= t;
    out.last = t;
  }
  return out;
}

export interface Check {
  what: string;
  ok: boolean;
  detail: string;
}

/**
 * What the guest answered to `hostname; cat /run/cloud-init/result.json; cat the user-data trace;
 * cat /sys/class/net/e*\/mtu`, sections separated by `---` lines.
 */
export function guestChecks(o: {
  ssh: { code: number; stdout: string; stderr: string };
  name: string;
  mtu: number;
  floating: boolean;
}): Check[] {
  const [host = "", result = "", userData = "", mtus = ""] = o.ssh.stdout.split(/^---$/m).map((s) => s.trim());
  let errors: string[] | null = null;
  let datasource = "";
  try {
    const r = JSON.parse(result) as { v1?: { errors?: string[]; datasource?: string } };
    errors = r.v1?.errors ?? null;
    datasource = r.v1?.datasource ?? "";
  } catch {
    /* no result.json: reported below */
  }
  const sshErr = o.ssh.stderr.trim().split("\n").at(-1) ?? "";
  return [
    {
      what: "SSH login with the keypair",
      ok: o.ssh.code === 0,
      detail: o.ssh.code === 0 ? "debian@fixed IP" : `exit ${o.ssh.code}: ${sshErr}`,
    },
    { what: "hostname", ok: host === o.name || host.startsWith(`${o.name}.`), detail: JSON.stringify(host) },
    {
      what: "cloud-init result",
      ok: errors !== null && errors.length === 0,
      detail: errors === null ? "no /run/cloud-init/result.json" : `${errors.length} errors; ${datasource}`,
    },
    { what: "user data ran", ok: userData.startsWith("netlet user-data ran"), detail: JSON.stringify(userData) },
    {
      what: "MTU",
      ok: mtus.split(/\s+/).includes(String(o.mtu)),
      detail: `guest ${mtus.replace(/\s+/g, ",") || "?"}, network ${o.mtu}`,
    },
    { what: "floating IP ping from outside", ok: o.floating, detail: o.floating ? "answered" : "no answer" },
  ];
}
