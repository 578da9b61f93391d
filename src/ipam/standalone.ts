/**
 * The standalone Allocator: this host's fixed-IP table (fixed-ips.ts) is the only authority, and
 * the write that records a port takes its address there, in the same transaction
 * (`allocateFixedIp`: the address asked for if it is free and unreserved, else the least
 * recently used free one). Deleting an instance or detaching a port returns its addresses in
 * that write too, so nothing is left to give back here.
 */
import type { Allocation, AllocationRequest, Allocator } from "./allocator.ts";

export class StandaloneAllocator implements Allocator {
  async allocate(req: AllocationRequest): Promise<Allocation> {
    // The requested addresses go to the write as they are (the store checks them and their count).
    return { addresses: [...req.requested], abort: () => {} };
  }

  release(): void {}

  releases(): boolean {
    return true;
  }
}
