/**
 * vendor_data.json and vendor_data2.json (nova-reference §1.9). Dynamic targets are POSTed as
 * nova's DynamicVendorData does; any failure (transport, timeout, status, JSON) yields `{}` for
 * that target, so a broken target never breaks the instance's boot.
 */
import type { InstanceView } from "./source.ts";

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface DynamicTarget {
  name: string;
  url: string;
}

/** `name@url` entries; entries without `@` and duplicate names are skipped, as in nova. */
export function parseTargets(entries: string[]): DynamicTarget[] {
  const out: DynamicTarget[] = [];
  for (const entry of entries) {
    const at = entry.indexOf("@");
    if (at < 0) continue;
    const name = entry.slice(0, at);
    if (out.some((t) => t.name === name)) continue;
    out.push({ name, url: entry.slice(at + 1) });
  }
  return out;
}

/** vendor_data.json: the static file's JSON, `{}` when none is configured. */
export function vendorDataJson(staticData: unknown): string {
  return JSON.stringify(staticData ?? {});
}

/** The body nova posts to a dynamic target. */
export function dynamicRequestBody(view: InstanceView): Record<string, unknown> {
  const { instance } = view;
  return {
    "project-id": instance.projectId,
    "instance-id": instance.uuid,
    "image-id": view.imageId ?? null,
    // nova stores and forwards user data base64-encoded.
    "user-data": instance.userData ? Buffer.from(instance.userData).toString("base64") : null,
    hostname: instance.hostname,
    metadata: instance.meta,
  };
}

async function callTarget(fetchFn: FetchLike, url: string, body: string, timeoutMs: number): Promise<unknown> {
  try {
    const res = await fetchFn(url, {
      method: "POST",
      body,
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "User-Agent": "openstack-nova-vendordata",
      },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (![200, 201, 202].includes(res.status)) return {};
    const text = await res.text();
    if (text.trim() === "") return {};
    const parsed: unknown = JSON.parse(text);
    return parsed ?? {};
  } catch {
    return {};
  }
}

/** vendor_data2.json: `static` plus one key per target; keys already present are dropped. */
export async function vendorData2Json(
  view: InstanceView,
  staticData: unknown,
  targets: DynamicTarget[],
  fetchFn: FetchLike,
  timeoutMs: number,
): Promise<string> {
  const out: Record<string, unknown> = { static: staticData ?? {} };
  const body = JSON.stringify(dynamicRequestBody(view));
  const results = await Promise.all(targets.map((t) => callTarget(fetchFn, t.url, body, timeoutMs)));
  targets.forEach((t, i) => {
    if (!Object.hasOwn(out, t.name)) out[t.name] = results[i];
  });
  return JSON.stringify(out);
}
