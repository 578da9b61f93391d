/** This host's address as the kernel sees it. */

/** The source address the kernel would use for the default route (127.0.0.1 when there is none). */
export function defaultRouteSource(): string {
  const r = Bun.spawnSync(["ip", "-4", "-o", "route", "get", "192.0.2.1"], { stderr: "ignore" });
  const m = /src (\d+\.\d+\.\d+\.\d+)/.exec(r.stdout.toString());
  return m ? m[1] : "127.0.0.1";
}
