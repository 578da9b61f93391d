/** IPAM agreement messages (payloads carried by the membership layer), checked with valibot. */
import * as v from "valibot";
import { PAGE } from "./inherit.ts";

const slot = v.pipe(v.string(), v.minLength(1), v.maxLength(200));
const epoch = v.pipe(v.number(), v.integer(), v.minValue(1));
const record = v.object({
  owner: v.pipe(v.string(), v.maxLength(128)),
  epoch: v.pipe(v.number(), v.integer(), v.minValue(0)),
  released: v.boolean(),
});

export const IpamMsg = v.variant("i", [
  /** Claim `slot` at `e`; `k` identifies the attempt; `vs` fingerprints the claimant's voter set. */
  v.object({
    i: v.literal("c"),
    k: v.pipe(v.number(), v.integer()),
    slot,
    e: epoch,
    vs: v.optional(v.pipe(v.string(), v.maxLength(64))),
  }),
  /** Vote on attempt `k`; a refusal carries what the voter knows about the slot. */
  v.object({
    i: v.literal("v"),
    k: v.pipe(v.number(), v.integer()),
    ok: v.boolean(),
    st: v.optional(record),
    why: v.optional(v.picklist(["view", "busy", "novote"])),
  }),
  /** The holder (or an abandoning claimant) releases `slot` at `e`. */
  v.object({ i: v.literal("l"), slot, e: epoch }),
  /** Please hand over `slot` (a floating IP being associated elsewhere). */
  v.object({ i: v.literal("t"), slot }),
  /** A voter about to vote asks for our unreleased promises with slots after `a` (inherit.ts). */
  v.object({ i: v.literal("q"), a: v.pipe(v.string(), v.maxLength(200)) }),
  /** One page of promises after `a`; `nx` is where the next page starts, null at the end. */
  v.object({
    i: v.literal("p"),
    a: v.pipe(v.string(), v.maxLength(200)),
    ps: v.pipe(
      v.array(v.tuple([slot, v.pipe(v.string(), v.minLength(1), v.maxLength(128)), epoch])),
      v.maxLength(PAGE),
    ),
    nx: v.nullable(v.pipe(v.string(), v.maxLength(200))),
  }),
]);
export type IpamMsg = v.InferOutput<typeof IpamMsg>;

export const isIpamPayload = (d: unknown): boolean =>
  typeof d === "object" && d !== null && typeof (d as { i?: unknown }).i === "string";

export function parseIpamMsg(d: unknown): IpamMsg | null {
  const r = v.safeParse(IpamMsg, d);
  return r.success ? r.output : null;
}
