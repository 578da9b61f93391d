/**
 * Where the fixed IPv4 addresses of new ports come from: one interface, two implementations,
 * chosen where the agent is composed.
 *
 * - Standalone (ipam/standalone.ts): this host's fixed-IP table is the authority.
 *   The store's write that records a port picks its address there (the one asked for, or the
 *   least recently used free one), in the port's own transaction, so a refused boot leaves
 *   nothing taken and two boots never race for an address.
 * - Cluster (ipam/cluster.ts, over the quorum IPAM in cluster/ipam/): this host's blocks, each granted by a majority of
 *   voters. Addresses are agreed before the store's write (waiting for a new block when
 *   needed), recorded with the port, and given back when the write is refused.
 *
 * The admin API boots, attaches, detaches and deletes through this interface only.
 */

/** A network a new port goes on, as an allocator sees it. */
export interface AllocNetwork {
  id: string;
  /** How a refusal names the network. */
  name: string;
  /** Null: no IPv4 range, so the port gets no fixed address. */
  cidr: string | null;
  /** Each host serves the network at an address of its own (multi_host without a shared address). */
  hostAddress: boolean;
}

export interface AllocationRequest {
  /** The new ports' networks, in order. */
  networks: readonly AllocNetwork[];
  /** Addresses asked for (`--fixed-ip`), by position. */
  requested: readonly (string | undefined)[];
  /** Whom the addresses are for ("instance:NAME"), as recorded with them. */
  owner: string;
}

export interface Allocation {
  /**
   * The address to record with each port, by position; undefined leaves the pick to the
   * store's write that records the port (the standalone table's least-recently-used address).
   */
  addresses: readonly (string | undefined)[];
  /** The ports were not recorded: give back what this allocation took. */
  abort(): void;
}

export interface Allocator {
  /** Resolves once the addresses are decided; rejects with a DomainError saying why not. */
  allocate(req: AllocationRequest): Promise<Allocation>;
  /** A port that held `address` is gone (its instance deleted or the port detached). */
  release(networkId: string, address: string): void;
  /** Whether this host may give back the addresses of an instance that runs on `host`. */
  releases(host: string): boolean;
}
