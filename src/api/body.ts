/** Request bodies of the admin API: JSON, validated with valibot; failures are 400 `{error, field}`. */
import type { Context } from "hono";
import * as v from "valibot";
import { invalid } from "../util/errors.ts";

export async function body<T extends v.GenericSchema>(c: Context, schema: T): Promise<v.InferOutput<T>> {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw invalid("request body is not valid JSON");
  }
  const r = v.safeParse(schema, raw);
  if (!r.success) {
    const issue = r.issues[0];
    const field = v.getDotPath(issue) ?? null;
    throw invalid(`${field ?? "body"}: ${issue.message}`, field);
  }
  return r.output;
}

/** A body that may be left out: absent or empty, it is the schema's defaults. */
export async function optionalBody<T extends v.GenericSchema>(c: Context, schema: T): Promise<v.InferOutput<T>> {
  if (!(await c.req.text()).trim()) return v.parse(schema, {});
  return body(c, schema);
}
