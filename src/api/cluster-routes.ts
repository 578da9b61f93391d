/** Admin API of the cluster: members, join, leave, keys, forgetting a dead host. */
import type { Hono } from "hono";
import * as v from "valibot";
import type { ClusterControl } from "../cluster/control.ts";
import { conflict, invalid, isDomainError } from "../util/errors.ts";
import { decodeKey } from "../cluster/keyring.ts";
import { body } from "./body.ts";

const Join = v.strictObject({
  addrs: v.pipe(v.array(v.pipe(v.string(), v.regex(/^[^\s]+:\d{1,5}$/))), v.minLength(1), v.maxLength(64)),
});
const KeyOp = v.strictObject({
  op: v.picklist(["install", "use", "remove"]),
  key: v.pipe(v.string(), v.maxLength(64)),
});

function need(c: ClusterControl | null): ClusterControl {
  if (!c)
    throw conflict(
      "this node runs standalone: put a key from `netlet cluster keygen` in the cluster key file and restart the agent",
      "cluster",
    );
  return c;
}

export function clusterRoutes(app: Hono, cluster: () => ClusterControl | null): void {
  app.get("/v1/members", (c) => c.json(need(cluster()).members()));
  app.get("/v1/cluster/namesakes", (c) => c.json(need(cluster()).namesakes()));
  app.post("/v1/cluster/join", async (c) => {
    const b = await body(c, Join);
    need(cluster()).join(b.addrs);
    return c.json({ joining: b.addrs });
  });
  app.post("/v1/cluster/leave", (c) => {
    need(cluster()).leave();
    return c.json({ left: true });
  });
  app.get("/v1/cluster/keys", (c) => c.json(need(cluster()).keys()));
  app.post("/v1/cluster/keys", async (c) => {
    const b = await body(c, KeyOp);
    try {
      decodeKey(b.key);
      need(cluster()).keyOp(b.op, b.key);
    } catch (err) {
      if (isDomainError(err)) throw err;
      throw invalid((err as Error).message, "key");
    }
    return c.json(need(cluster()).keys());
  });
  app.post("/v1/hosts/:id/forget", (c) => {
    const r = need(cluster()).forget(c.req.param("id"));
    if (!r.ok) throw conflict(r.error, "host");
    return c.json({ forgotten: c.req.param("id") });
  });
}
