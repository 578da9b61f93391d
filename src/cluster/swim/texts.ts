/**
 * Texts of the messages the core sends, built in one place so every sender writes the same
 * fields in the same order. messages.ts holds the wire format and its validation.
 */
import type { Member } from "./members.ts";
import { ALIVE, LEFT, SUSPECT } from "./messages.ts";

export const pingText = (q: number, n: string): string => JSON.stringify({ t: "p", q, n });
export const ackText = (q: number): string => JSON.stringify({ t: "a", q });
export const nackText = (q: number): string => JSON.stringify({ t: "n", q });
/** Ask a helper to ping member `n` at `a` for us. */
export const relayText = (q: number, n: string, a: string): string => JSON.stringify({ t: "r", q, n, a });
export const aliveText = (n: string, a: string, g: number, i: number): string => JSON.stringify({ t: "A", n, a, g, i });
export const suspectText = (n: string, g: number, i: number, f: string): string =>
  JSON.stringify({ t: "S", n, g, i, f });
export const deadText = (n: string, g: number, i: number, f: string): string => JSON.stringify({ t: "D", n, g, i, f });
export const userText = (d: unknown): string => JSON.stringify({ t: "u", d });

/**
 * A member table message around JSON tuple texts. Reply 1 asks for the peer's whole table,
 * 2 for its own entry only, 0 for nothing.
 */
export const tableText = (reply: 0 | 1 | 2, tuples: string[]): string =>
  `{"t":"M","r":${reply},"m":[${tuples.join(",")}]}`;

/** A member's current state as news; `by` is the accuser of a suspect or dead member. */
export function stateText(m: Member, by: string): string {
  if (m.state === ALIVE) return aliveText(m.id, m.addr, m.generation, m.incarnation);
  if (m.state === SUSPECT) return suspectText(m.id, m.generation, m.incarnation, by);
  return deadText(m.id, m.generation, m.incarnation, m.state === LEFT ? m.id : by);
}
