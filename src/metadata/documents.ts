/**
 * Path → document for one instance, for both trees (nova `InstanceMetadata.lookup`). Pure apart
 * from the dynamic vendordata POSTs; the result is what the cache stores.
 */
import type { MetadataConfig } from "./config.ts";
import { ec2Tree, ec2Version, ec2VersionList } from "./ec2.ts";
import { networkData } from "./network-data.ts";
import {
  GRIZZLY,
  HAVANA,
  metaDataJson,
  NEWTON_TWO,
  openstackFiles,
  openstackVersion,
  openstackVersionList,
  splitSeed,
} from "./openstack.ts";
import { renderText, walk } from "./paths.ts";
import type { InstanceView } from "./source.ts";
import { type DynamicTarget, type FetchLike, vendorData2Json, vendorDataJson } from "./vendordata.ts";

export const TEXT = "text/plain; charset=utf-8";
export const JSON_TYPE = "application/json";

/** A rendered document; `seed` documents get a fresh random_seed spliced in per request. */
export type Doc =
  | { kind: "doc"; body: string | Uint8Array; type: string }
  | { kind: "seeded"; prefix: string; suffix: string; type: string };

export interface RenderContext {
  config: MetadataConfig;
  targets: DynamicTarget[];
  fetch: FetchLike;
  nowMs: number;
  /** The address the request came from (EC2 local-ipv4 fallback). */
  requestAddress: string;
}

const text = (body: string | Uint8Array): Doc => ({ kind: "doc", body, type: TEXT });
const json = (body: string): Doc => ({ kind: "doc", body, type: JSON_TYPE });

/** True for `/openstack/<version ≥ GRIZZLY>/password`, the one path with method rules. */
export function isPasswordPath(segments: string[]): boolean {
  if (segments.length !== 3 || segments[0] !== "openstack" || segments[2] !== "password") return false;
  const v = openstackVersion(segments[1]);
  return v !== null && v >= GRIZZLY;
}

/** The document at `segments` (already normalised, not `/`), or null for 404. */
export async function renderDocument(view: InstanceView, segments: string[], ctx: RenderContext): Promise<Doc | null> {
  if (segments[0] === "openstack") return renderOpenstack(view, segments.slice(1), ctx);
  const ec2 = segments[0] === "ec2" ? segments.slice(1) : segments;
  if (ec2.length === 0) return text(ec2VersionList().join("\n"));
  const version = ec2Version(ec2[0]);
  if (!version) return null;
  const node = walk(ec2Tree(view, version, ctx.config.dhcpDomain, ctx.requestAddress), ec2.slice(1));
  return node === undefined ? null : text(renderText(node));
}

async function renderOpenstack(view: InstanceView, rest: string[], ctx: RenderContext): Promise<Doc | null> {
  if (rest.length === 0) return text(openstackVersionList(ctx.nowMs).join("\n"));
  const version = openstackVersion(rest[0]);
  if (!version || rest.length > 2) return null;
  const { instance } = view;
  if (rest.length === 1) return text(openstackFiles(version, instance.userData !== null).join("\n"));
  switch (rest[1]) {
    case "meta_data.json":
      return seeded(metaDataJson(view, version, ctx.config.dhcpDomain));
    // nova serves user_data and network_data.json for any version, listed or not.
    case "user_data":
      return instance.userData ? text(instance.userData) : null;
    case "network_data.json":
      return text(JSON.stringify(networkData(view)));
    case "password":
      return version >= GRIZZLY ? text(instance.password ?? "") : null;
    case "vendor_data.json":
      return version >= HAVANA ? json(vendorDataJson(ctx.config.vendordataStatic)) : null;
    case "vendor_data2.json":
      if (version < NEWTON_TWO) return null;
      return json(
        await vendorData2Json(
          view,
          ctx.config.vendordataStatic,
          ctx.targets,
          ctx.fetch,
          ctx.config.vendordataTimeoutMs,
        ),
      );
    default:
      return null;
  }
}

function seeded(body: string): Doc {
  const parts = splitSeed(body);
  return parts ? { kind: "seeded", prefix: parts[0], suffix: parts[1], type: JSON_TYPE } : json(body);
}
