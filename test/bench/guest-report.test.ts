/** The Debian cloud-init bench's readers: console final line, metadata access log, SSH answers. */
import { describe, expect, test } from "bun:test";
import { guestChecks, guestDhcpSeconds, metadataRequests, parseFinished } from "../../bench/guests/guest-report.ts";

describe("parseFinished", () => {
  test("reads cloud-init's final message among console noise", () => {
    const text =
      "[  OK  ] Started cloud-final.service\r\n" +
      "[   75.123456] cloud-init[612]: Cloud-init v. 22.4.2 finished at Tue, 08 Dec 2026 03:40:00 +0000. Datasource DataSourceOpenStackLocal [net,ver=2].  Up 72.51 seconds\r\n";
    expect(parseFinished(text)).toEqual({ datasource: "DataSourceOpenStackLocal", uptime: 72.51 });
  });
  test("nothing before the final stage has run", () => {
    expect(parseFinished("Cloud-init v. 22.4.2 running 'modules:final' at Tue, 08 Dec 2026. Up 60.1 seconds.\n")).toBe(
      null,
    );
  });
});

describe("metadataRequests", () => {
  const line = (o: Record<string, unknown>) => JSON.stringify({ level: "info", component: "metadata", ...o });
  test("counts one source's answered and refused requests, first and last time", () => {
    const log = [
      line({ ts: "2026-12-08T03:00:01.000Z", msg: "request", source: "10.0.0.3", status: 200 }),
      line({ ts: "2026-12-08T03:00:01.500Z", msg: "request", source: "10.0.0.4", status: 200 }),
      line({ ts: "2026-12-08T03:00:02.000Z", msg: "request", source: "10.0.0.3", status: 404 }),
      line({ ts: "2026-12-08T03:00:12.000Z", msg: "more requests refused", source: "10.0.0.3", count: 2 }),
      JSON.stringify({ ts: "2026-12-08T03:00:03.000Z", component: "dhcp", msg: "lease.added", ip: "10.0.0.3" }),
      "not json 10.0.0.3",
    ].join("\n");
    expect(metadataRequests(log, "10.0.0.3")).toEqual({
      count: 4,
      refused: 3,
      first: Date.parse("2026-12-08T03:00:01.000Z"),
      last: Date.parse("2026-12-08T03:00:02.000Z"),
    });
    expect(metadataRequests(log, "10.0.0.9")).toEqual({ count: 0, refused: 0, first: null, last: null });
  });
});

describe("guestChecks", () => {
  const ok = {
    code: 0,
    stderr: "",
    stdout:
      'deb1\n---\n{"v1": {"datasource": "DataSourceOpenStack", "errors": []}}\n---\nnetlet user-data ran as root at uptime 70.1\n---\n1400\n',
  };
  const base = { name: "deb1", mtu: 1400, floating: true };
  test("all pass on a served guest", () => {
    expect(guestChecks({ ...base, ssh: ok }).filter((c) => !c.ok)).toEqual([]);
  });
  test("each failure is named", () => {
    const bad = {
      code: 0,
      stderr: "",
      stdout: 'localhost\n---\n{"v1": {"errors": ["x"]}}\n---\n\n---\n1500\n',
    };
    const failed = guestChecks({ ...base, floating: false, ssh: bad })
      .filter((c) => !c.ok)
      .map((c) => c.what);
    expect(failed).toEqual(["hostname", "cloud-init result", "user data ran", "MTU", "floating IP ping from outside"]);
    const denied = guestChecks({ ...base, ssh: { code: 255, stdout: "", stderr: "Permission denied (publickey)." } });
    expect(denied[0]).toMatchObject({ ok: false, detail: "exit 255: Permission denied (publickey)." });
  });
});

describe("guestDhcpSeconds", () => {
  test("from cloud-init's discovery line to its lease line", () => {
    const log = [
      "2026-12-08 03:24:31,900 - dhcp.py[DEBUG]: Performing a dhcp discovery on eth0",
      "2026-12-08 03:24:32,010 - subp.py[DEBUG]: Running command ['ip', 'link', 'set', 'dev', 'eth0', 'up']",
      "2026-12-08 03:24:32,350 - ephemeral.py[DEBUG]: Received dhcp lease on eth0 for 10.60.0.3/255.255.255.0",
      "2026-12-08 03:24:40,000 - ephemeral.py[DEBUG]: Received dhcp lease on eth0 for 10.60.0.3/255.255.255.0",
    ].join("\n");
    expect(guestDhcpSeconds(log)).toBeCloseTo(0.45, 3);
  });
  test("null when cloud-init never ran DHCP itself", () => {
    expect(guestDhcpSeconds("2026-12-08 03:24:31,900 - util.py[DEBUG]: Cloud-init v. 22.4.2 running\n")).toBe(null);
  });
});
