/** The operators' HTTP listener (admin_listen): Prometheus metrics and health checks. */
import type { Logger } from "../log.ts";
import { registry } from "../metrics.ts";
import type { Store } from "../store/db.ts";

/** /metrics, /healthz (the process answers) and /readyz (the store answers and no alarm is raised). */
export function serveOps(listen: string, store: Store, log: Logger, alarms: () => string[]) {
  const i = listen.lastIndexOf(":");
  const hostname = listen.slice(0, i).replace(/^\[|\]$/g, "");
  const port = Number(listen.slice(i + 1));
  try {
    return Bun.serve({
      hostname,
      port,
      fetch(req) {
        const path = new URL(req.url).pathname;
        if (path === "/metrics") {
          alarms(); // expire transient alarms so netlet_alarm is current
          return new Response(registry.render(), { headers: { "content-type": "text/plain; version=0.0.4" } });
        }
        if (path === "/healthz") return new Response("ok\n");
        if (path === "/readyz") {
          store.db.query("SELECT 1").get();
          const raised = alarms();
          if (raised.length)
            return new Response(`not ready\n${raised.map((a) => `alarm ${a}`).join("\n")}\n`, { status: 503 });
          return new Response("ready\n");
        }
        return new Response("not found\n", { status: 404 });
      },
    });
  } catch (err) {
    log.warn("admin listener not started", { listen, err: String(err) });
    return null;
  }
}
