/**
 * The one place where the folders of src/ and their allowed dependencies are declared (drawn in
 * docs/architecture.md). A unit is a folder under src/ or a file directly in src/. An arrow
 * a -> b lets files of a import files of b; "*" is for the composition root only. The arrows
 * must not form a cycle: state flows one way, store -> reconcile -> modules.
 */
export interface ImportRules {
  allow: Record<string, readonly string[]>;
  /** "src/a/x.ts -> src/b/y.ts": why it is tolerated until it is moved. */
  exceptions: Record<string, string>;
  /** Runtime modules only some units may import (the FFI stays in sys/). */
  restricted: Record<string, readonly string[]>;
}

/** Leaf modules anything may use: shared types, metrics, logging, address helpers, plumbing. */
const LEAVES = ["model.ts", "metrics.ts", "log.ts", "version.ts", "net", "util"] as const;

export const RULES: ImportRules = {
  allow: {
    // Leaves.
    "model.ts": [],
    "metrics.ts": [],
    "log.ts": [],
    "version.ts": [],
    // Address helpers and network plans (net/) memoise parsed addresses in util's bounded cache.
    net: ["util", "model.ts"],
    util: [],
    replication: [],
    // The only exec/FFI surface for sockets and ioctls.
    sys: ["net"],
    // The store (SQLite, the one source of truth); IPAM: one Allocator over the store's table
    // (standalone) or the cluster's quorum IPAM.
    store: [...LEAVES, "replication"],
    ipam: [...LEAVES, "store", "cluster"],
    config: [...LEAVES],
    // Protocol modules and pure cores: they never import the store or one another.
    dhcp: [...LEAVES, "sys"],
    ra: [...LEAVES, "sys"],
    dns: [...LEAVES],
    metadata: [...LEAVES, "sys"],
    dataplane: [...LEAVES, "sys"],
    cluster: [...LEAVES, "replication"],
    qemu: [...LEAVES],
    doctor: [...LEAVES, "sys"],
    libvirt: [...LEAVES, "store", "qemu", "sys"],
    lab: [...LEAVES, "cluster"],
    // The reconciler: store -> module inputs.
    reconcile: [...LEAVES, "store", "config", "dataplane", "dhcp", "ra", "dns", "metadata"],
    // The admin API and the CLI (a client of the API).
    api: [...LEAVES, "store", "ipam", "config", "cluster"],
    cli: [...LEAVES, "api", "config", "cluster", "dataplane", "doctor", "lab", "libvirt", "qemu", "sys"],
    // The composition root builds and wires everything.
    agent: ["*"],
    "main.ts": ["*"],
  },
  restricted: {
    "bun:ffi": ["sys"],
  },
  exceptions: {},
};
