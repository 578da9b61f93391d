import { expect, test } from "bun:test";
import { applyChange } from "../../src/metadata/events.ts";
import type { ChangeEvent } from "../../src/model.ts";

test("applyChange invalidates the instance named, the owner found, or everything", () => {
  const calls: string[] = [];
  const target = { invalidate: (u: string) => calls.push(`one ${u}`), invalidateAll: () => calls.push("all") };
  const ev = (entity: ChangeEvent["entity"], key: string): ChangeEvent => ({ entity, op: "put", key, remote: false });
  applyChange(target, ev("instance", "u1"));
  applyChange(target, ev("lease", "x"));
  applyChange(target, ev("security_group_rule", "x"));
  applyChange(target, ev("floating_ip", "203.0.113.5"), (e) => (e.key === "203.0.113.5" ? "u2" : null));
  applyChange(target, ev("keypair", "mykey"));
  expect(calls).toEqual(["one u1", "one u2", "all"]);
});
