/**
 * What the admin API asks of a running cluster node (`netlet cluster …`, `netlet host forget`):
 * membership, joining and leaving, the keyring, forgetting a dead host.
 */
import type { MemberView } from "./swim/members.ts";

export interface ClusterControl {
  members(): MemberView[];
  join(addrs: string[]): void;
  leave(): void;
  forget(host: string): { ok: true } | { ok: false; error: string };
  keys(): { id: number; primary: boolean; retireAt: number | null }[];
  keyOp(op: "install" | "use" | "remove", key: string): void;
  /** Hosts that send under this host's node name (cloned images keep the hostname). */
  namesakes(): { addr: string; since: number }[];
}
