/** Admin API of the cluster: members, join, leave, keys, forgetting a dead host. */
import type { Hono } from "hono";
import * as v from "valibot";
import type { ClusterAgent } from "../cluster-agent.ts";
import { StoreError } from "../store/db.ts";
import { decodeKey } from "../cluster/keyring.ts";

const Join = v.strictObject({ addrs: v.pipe(v.array(v.pipe(v.string(), v.regex(/^[^\s]+:\d{1,5}$/))), v.minLength(1), v.maxLength(64)) });
const KeyOp = v.strictObject({ op: v.picklist(["install", "use", "remove"]), key: v.pipe(v.string(), v.maxLength(64)) });

function need(c: ClusterAgent | null): ClusterAgent {
  if (!c) throw new StoreError("this node runs standalone: put a key from `netlet cluster keygen` in the cluster key file and restart the agent", "cluster", 409);
  return c;
}

async function parse<T extends v.GenericSchema>(req: Request, schema: T): Promise<v.InferOutput<T>> {
  const r = v.safeParse(schema, await req.json().catch(() => null));
  if (!r.success) {
    const field = v.getDotPath(r.issues[0]) ?? null;
    throw new StoreError(`${field ?? "body"}: ${r.issues[0].message}`, field, 400);
  }
  return r.output;
}

export function clusterRoutes(app: Hono, cluster: () => ClusterAgent | null): void {
  app.get("/v1/members", (c) => c.json(need(cluster()).members()));
  app.post("/v1/cluster/join", async (c) => {
    const b = await parse(c.req.raw, Join);
    need(cluster()).join(b.addrs);
    return c.json({ joining: b.addrs });
  });
  app.post("/v1/cluster/leave", (c) => {
    need(cluster()).leave();
    return c.json({ left: true });
  });
  app.get("/v1/cluster/keys", (c) => c.json(need(cluster()).keys()));
  app.post("/v1/cluster/keys", async (c) => {
    const b = await parse(c.req.raw, KeyOp);
    try {
      decodeKey(b.key);
      need(cluster()).keyOp(b.op, b.key);
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new StoreError((err as Error).message, "key", 400);
    }
    return c.json(need(cluster()).keys());
  });
  app.post("/v1/hosts/:id/forget", (c) => {
    const r = need(cluster()).forget(c.req.param("id"));
    if (!r.ok) throw new StoreError(r.error, "host", 409);
    return c.json({ forgotten: c.req.param("id") });
  });
}
