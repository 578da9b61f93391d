/**
 * Versioned migrations. Each entry runs once, in order, inside one transaction; PRAGMA
 * user_version records how far a database has come. Never edit a released migration: append.
 *
 * Every replicated table has (origin, hlc, deleted): the node that wrote the row, its hybrid
 * logical clock version and a tombstone flag, so the cluster can merge rows without a controller.
 */

const versioned = `origin TEXT NOT NULL, hlc TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0`;

export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

  CREATE TABLE networks (
    id TEXT PRIMARY KEY, label TEXT NOT NULL, cidr TEXT, cidr_v6 TEXT, fixed_cidr TEXT,
    netmask TEXT, broadcast TEXT, gateway TEXT, gateway_v6 TEXT, dhcp_server TEXT, dhcp_start TEXT,
    bridge TEXT NOT NULL, bridge_interface TEXT, vlan INTEGER, vxlan INTEGER,
    dns1 TEXT, dns2 TEXT, mtu INTEGER, multi_host INTEGER NOT NULL, project_id TEXT,
    enable_dhcp INTEGER NOT NULL, share_address INTEGER NOT NULL,
    allowed_start TEXT, allowed_end TEXT, vpn_private_address TEXT, priority INTEGER,
    created_at INTEGER NOT NULL, ${versioned}
  );
  CREATE INDEX networks_label ON networks(label) WHERE deleted = 0;

  -- Fixed IPs of every network. Not replicated row by row: in a cluster, addresses are owned
  -- by blocks (src/cluster) and a VIF carries its address.
  CREATE TABLE fixed_ips (
    network_id TEXT NOT NULL, address TEXT NOT NULL, address_num INTEGER NOT NULL,
    reserved INTEGER NOT NULL DEFAULT 0, allocated INTEGER NOT NULL DEFAULT 0,
    leased INTEGER NOT NULL DEFAULT 0, instance_uuid TEXT, vif_id TEXT, host TEXT,
    updated_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (network_id, address)
  ) WITHOUT ROWID;
  -- Least-recently-used free address in O(log n), whatever the network size.
  CREATE INDEX fixed_ips_free ON fixed_ips(network_id, updated_at, address_num)
    WHERE instance_uuid IS NULL AND reserved = 0 AND leased = 0 AND host IS NULL;
  CREATE INDEX fixed_ips_instance ON fixed_ips(instance_uuid) WHERE instance_uuid IS NOT NULL;

  CREATE TABLE instances (
    uuid TEXT PRIMARY KEY, name TEXT NOT NULL, hostname TEXT NOT NULL, host TEXT NOT NULL,
    project_id TEXT NOT NULL, user_id TEXT NOT NULL, key_name TEXT, key_data TEXT, user_data BLOB,
    meta TEXT NOT NULL, launch_index INTEGER NOT NULL, availability_zone TEXT NOT NULL,
    flavor TEXT NOT NULL, security_groups TEXT NOT NULL, reservation_id TEXT NOT NULL,
    password TEXT, created_at INTEGER NOT NULL, ${versioned}
  );
  CREATE INDEX instances_name ON instances(name) WHERE deleted = 0;

  CREATE TABLE vifs (
    id TEXT PRIMARY KEY, mac TEXT NOT NULL, instance_uuid TEXT NOT NULL, network_id TEXT NOT NULL,
    address TEXT, address_v6 TEXT, host TEXT NOT NULL, idx INTEGER NOT NULL, ${versioned}
  );
  CREATE UNIQUE INDEX vifs_mac ON vifs(mac) WHERE deleted = 0;
  CREATE INDEX vifs_instance ON vifs(instance_uuid);
  CREATE INDEX vifs_address ON vifs(address, network_id) WHERE deleted = 0;

  CREATE TABLE keypairs (
    name TEXT PRIMARY KEY, public_key TEXT NOT NULL, fingerprint TEXT NOT NULL,
    type TEXT NOT NULL, ${versioned}
  );

  CREATE TABLE security_groups (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL, project_id TEXT NOT NULL,
    ${versioned}
  );
  CREATE UNIQUE INDEX security_groups_name ON security_groups(project_id, name) WHERE deleted = 0;

  CREATE TABLE security_group_rules (
    id TEXT PRIMARY KEY, group_id TEXT NOT NULL, direction TEXT NOT NULL, ethertype TEXT NOT NULL,
    protocol TEXT NOT NULL, from_port INTEGER NOT NULL, to_port INTEGER NOT NULL, cidr TEXT,
    source_group_id TEXT, ${versioned}
  );
  CREATE INDEX security_group_rules_group ON security_group_rules(group_id);

  CREATE TABLE floating_ips (
    address TEXT PRIMARY KEY, address_num INTEGER NOT NULL, pool TEXT NOT NULL,
    interface TEXT NOT NULL, project_id TEXT, instance_uuid TEXT, fixed_address TEXT,
    fixed_network_id TEXT, host TEXT, auto_assigned INTEGER NOT NULL DEFAULT 0, ${versioned}
  );
  CREATE INDEX floating_ips_pool ON floating_ips(pool, address_num) WHERE deleted = 0;

  CREATE TABLE hosts (
    id TEXT PRIMARY KEY, hostname TEXT NOT NULL, address TEXT NOT NULL,
    generation INTEGER NOT NULL, ${versioned}
  );

  CREATE TABLE leases (
    network_id TEXT NOT NULL, mac TEXT NOT NULL, address TEXT NOT NULL, hostname TEXT,
    client_id TEXT, state TEXT NOT NULL, expires_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    ${versioned},
    PRIMARY KEY (network_id, mac)
  );
  `,
  // The per-host gateway address of multi_host networks is looked up on every boot.
  `CREATE INDEX fixed_ips_host ON fixed_ips(network_id, host) WHERE host IS NOT NULL;
   CREATE INDEX vifs_address_v6 ON vifs(address_v6) WHERE deleted = 0;
   CREATE INDEX floating_ips_instance ON floating_ips(instance_uuid) WHERE instance_uuid IS NOT NULL;`,
  // The cluster: rows of its own bookkeeping (IPAM slots and allocations, floating pools,
  // forgotten hosts) and tombstones of rows never seen here; persisted IPAM promises; indexes
  // for "what did origin X write after version V" across every replicated table.
  `CREATE TABLE replica_extra (
     tbl TEXT NOT NULL, key TEXT NOT NULL, origin TEXT NOT NULL, hlc TEXT NOT NULL,
     deleted INTEGER NOT NULL DEFAULT 0, data TEXT, PRIMARY KEY (tbl, key)
   ) WITHOUT ROWID;
   CREATE INDEX replica_extra_origin ON replica_extra(origin, hlc);
   CREATE TABLE ipam_promises (slot TEXT PRIMARY KEY, owner TEXT NOT NULL, epoch INTEGER NOT NULL, released INTEGER NOT NULL) WITHOUT ROWID;
   CREATE INDEX networks_origin ON networks(origin, hlc);
   CREATE INDEX instances_origin ON instances(origin, hlc);
   CREATE INDEX vifs_origin ON vifs(origin, hlc);
   CREATE INDEX keypairs_origin ON keypairs(origin, hlc);
   CREATE INDEX security_groups_origin ON security_groups(origin, hlc);
   CREATE INDEX security_group_rules_origin ON security_group_rules(origin, hlc);
   CREATE INDEX floating_ips_origin ON floating_ips(origin, hlc);
   CREATE INDEX hosts_origin ON hosts(origin, hlc);
   CREATE INDEX leases_origin ON leases(origin, hlc);`,
  // Names are unique per project at the API; replicated rows from two hosts that raced must
  // still both apply, so the database no longer enforces it.
  `DROP INDEX security_groups_name;
   CREATE INDEX security_groups_name ON security_groups(project_id, name) WHERE deleted = 0;`,
  // The host-side port (tap, vnet, veth) of each VIF on this host, as the hypervisor declared it.
  // Local to the host: a port name means nothing elsewhere, and only this host's rules use it.
  `CREATE TABLE vif_ports (
     vif_id TEXT PRIMARY KEY, port TEXT NOT NULL, plugged_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE UNIQUE INDEX vif_ports_port ON vif_ports(port);`,
  // Local, not replicated: which instances are libvirt domains of this host, and since when a
  // domain has been missing from libvirt (an undefined domain's instance goes after a grace).
  `CREATE TABLE libvirt_domains (uuid TEXT PRIMARY KEY, name TEXT NOT NULL, missing_since INTEGER);`,
  // nova's networks.host: the one host associated with a network that is not multi_host.
  `ALTER TABLE networks ADD COLUMN host TEXT;`,
];
