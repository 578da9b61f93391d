/**
 * Change events → cache invalidation, for the composition root to call from the store's event
 * stream. An instance event names its uuid; other entities are keyed by something else (an
 * address, a VIF id, a keypair name), so the root may pass `ownerOf` to map such an event to
 * the instance it touches. Without an owner the whole cache is dropped: rare events, and a
 * cold cache costs one render per instance, never a wrong answer.
 */
import type { ChangeEvent, Entity } from "../model.ts";

export interface Invalidatable {
  invalidate(uuid: string): void;
  invalidateAll(): void;
}

/** Entities no metadata document is rendered from. */
const IRRELEVANT: ReadonlySet<Entity> = new Set(["lease", "host", "security_group_rule", "vif_port"]);

export function applyChange(
  target: Invalidatable,
  event: ChangeEvent,
  ownerOf: (event: ChangeEvent) => string | null = () => null,
): void {
  if (IRRELEVANT.has(event.entity)) return;
  if (event.entity === "instance") return target.invalidate(event.key);
  const owner = ownerOf(event);
  if (owner) target.invalidate(owner);
  else target.invalidateAll();
}
