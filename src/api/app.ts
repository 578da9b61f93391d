/**
 * The admin API: a hono app (Request → Response) that the agent serves on a Unix socket and the
 * CLI calls. Every body is validated with valibot; every error is `{error, field}` with a 4xx
 * status, and a rejected request leaves the store unchanged (each write is one transaction).
 */
import { Hono } from "hono";
import type { Config } from "../config/load.ts";
import { createLogger, type Logger } from "../log.ts";
import type { Store } from "../store/db.ts";
import { DomainError } from "../util/errors.ts";
import { errorHandler } from "./errors.ts";
import { listFixedIps, getFixedIp, setReserved } from "../store/fixed-ips.ts";
import { listHosts } from "../store/hosts.ts";
import {
  associateHost,
  createNetworks,
  deleteNetwork,
  disassociateNetwork,
  disassociateProject,
  getNetwork,
  listNetworks,
} from "../store/networks.ts";
import { addKeypair, deleteKeypair, listKeypairs } from "../store/keypairs.ts";
import { bootNetworks, getInstance, listInstances, listVifs } from "../store/instances.ts";
import { checkBootPorts, plugPort } from "../store/ports.ts";
import {
  addRule,
  createSecurityGroup,
  deleteRule,
  deleteSecurityGroup,
  ensureDefaultGroup,
  listRules,
  listSecurityGroups,
  resolveGroup,
} from "../store/secgroups.ts";
import {
  allocateFloatingIp,
  associateFloatingIp,
  autoAssignFloatingIp,
  createFloatingRange,
  deallocateFloatingIp,
  deleteFloatingRange,
  disassociateFloatingIp,
  getFloatingIp,
  listFloatingIps,
} from "../store/floating.ts";
import { listLeases } from "../store/leases.ts";
import { addInstanceSecurityGroup, removeInstanceSecurityGroup } from "../store/instance-secgroups.ts";
import { updateInstance } from "../store/instance-update.ts";
import * as S from "./schemas.ts";
import { instanceJson, instancesJson, networkParams } from "./convert.ts";
import { body, optionalBody } from "./body.ts";
import { networkCreateWarnings, warn } from "./warnings.ts";
import type { HostSubnet } from "../net/host-subnets.ts";
import { attach, boot, detach, remove } from "./allocate.ts";
import { clusterRoutes } from "./cluster-routes.ts";
import { type Announce, portRoutes, settled, type PortsApplied } from "./port-routes.ts";
import type { ClusterControl } from "../cluster/control.ts";
import type { Allocator } from "../ipam/allocator.ts";
import { StandaloneAllocator } from "../ipam/standalone.ts";

export interface AdminDeps {
  store: Store;
  config: Config;
  /** Extra status sections supplied by the running modules (cluster, dataplane, …). */
  status?: () => Record<string, unknown>;
  /** What the dataplane programs per instance (`netlet dataplane show`). */
  dataplaneShow?: () => Promise<unknown>;
  /** The DNS service's answer to one question (`netlet dns query`); absent when dns_service is off. */
  dnsQuery?: (name: string | undefined, type: string | undefined) => Promise<{ status: 200 | 400; body: unknown }>;
  /** Present when the node is in a cluster: membership, keys, forgetting a host. */
  cluster?: ClusterControl | null;
  /** Where new ports' fixed addresses come from (default: this host's table, standalone). */
  allocator?: Allocator;
  /** Waits for the dataplane to apply the current port bindings (absent: nothing to wait for). */
  portsApplied?: PortsApplied;
  announce?: Announce;
  /** Where the API logs what it accepted with a warning. */
  log?: Logger;
  /** Stop serving for good (`netlet agent --shutdown`); absent when no agent runs this app. */
  shutdown?: () => void;
  /** The file the agent read its configuration from (null: built-in defaults), for `netlet doctor`. */
  configPath?: string | null;
  /** This host's own interface subnets, which fixed networks and floating ranges must not overlap. */
  hostSubnets?: () => HostSubnet[];
}

export function createAdminApp(deps: AdminDeps): Hono {
  const { store, config } = deps;
  const allocator = deps.allocator ?? new StandaloneAllocator();
  const hostSubnets = () => deps.hostSubnets?.() ?? [];
  const log = deps.log ?? createLogger({ base: { component: "api" } });
  const app = new Hono();

  app.onError(errorHandler(log));
  app.notFound((c) => c.json({ error: `no such API path ${c.req.method} ${c.req.path}`, field: null }, 404));

  app.get("/v1/networks", (c) => c.json(listNetworks(store)));
  app.get("/v1/networks/:ref", (c) => c.json(getNetwork(store, c.req.param("ref"))));
  app.post("/v1/networks", async (c) => {
    const b = await body(c, S.NetworkCreate);
    const params = networkParams(b, config);
    const warnings = networkCreateWarnings(b, params.bridge, config, listNetworks(store));
    const nets = createNetworks(store, params, hostSubnets());
    warn(c, warnings, log);
    return c.json(nets, 201);
  });
  app.delete("/v1/networks/:ref", (c) => c.json(deleteNetwork(store, c.req.param("ref"))));
  app.post("/v1/networks/:ref/disassociate", async (c) => {
    const b = await optionalBody(c, S.NetworkDisassociate);
    return c.json(disassociateNetwork(store, c.req.param("ref"), b));
  });
  app.post("/v1/networks/:ref/associate-host", async (c) => {
    const b = await body(c, S.NetworkAssociateHost);
    const hosts = [store.nodeId, ...listHosts(store).map((h) => h.id)];
    return c.json(associateHost(store, c.req.param("ref"), b.host, hosts));
  });

  app.get("/v1/fixed-ips", (c) => {
    const net = c.req.query("network");
    const ips = listFixedIps(store, {
      networkId: net ? getNetwork(store, net).id : undefined,
      onHost: c.req.query("host"),
    });
    // nova-manage showed the instance's hostname and host next to each address.
    const insts = new Map(listInstances(store).map((i) => [i.uuid, i]));
    return c.json(
      ips.map((f) => {
        const i = f.instanceUuid ? insts.get(f.instanceUuid) : undefined;
        return { ...f, hostname: i?.hostname ?? null, instanceHost: i?.host ?? null };
      }),
    );
  });
  app.get("/v1/fixed-ips/:address", (c) => c.json(getFixedIp(store, c.req.param("address"))));
  app.post("/v1/fixed-ips/:address/reserve", (c) => c.json(setReserved(store, c.req.param("address"), true)));
  app.post("/v1/fixed-ips/:address/unreserve", (c) => c.json(setReserved(store, c.req.param("address"), false)));

  app.get("/v1/keypairs", (c) => c.json(listKeypairs(store)));
  app.post("/v1/keypairs", async (c) => {
    const b = await body(c, S.KeypairAdd);
    return c.json(addKeypair(store, b.name, b.public_key), 201);
  });
  app.delete("/v1/keypairs/:name", (c) => c.json(deleteKeypair(store, c.req.param("name"))));

  app.get("/v1/instances", (c) => c.json(instancesJson(store, listInstances(store, { host: c.req.query("host") }))));
  app.get("/v1/instances/:ref", (c) => c.json(instanceJson(store, getInstance(store, c.req.param("ref")))));
  app.post("/v1/instances", async (c) => {
    const b = await body(c, S.Boot);
    const userData = b.user_data === null ? null : new Uint8Array(Buffer.from(b.user_data, "base64"));
    const params = {
      uuid: b.uuid,
      keyData: b.key_data,
      name: b.name,
      networks: b.networks,
      macs: b.macs,
      fixedIps: b.fixed_ips,
      keyName: b.key_name,
      userData,
      meta: b.meta,
      securityGroups: b.security_groups,
      availabilityZone: b.availability_zone,
      flavor: b.flavor,
      projectId: b.project_id,
      userId: b.user_id,
    };
    checkBootPorts(store, b.ports, bootNetworks(store, params).length);
    const inst = await boot(store, allocator, params);
    if (config.autoAssignFloatingIp) {
      try {
        autoAssignFloatingIp(store, inst.uuid, config.defaultFloatingPool, inst.projectId);
      } catch (err) {
        // As in nova, a boot that cannot get its automatic floating IP fails as a whole.
        remove(store, allocator, inst.uuid);
        throw new DomainError(
          err instanceof DomainError ? err.kind : "conflict",
          `auto_assign_floating_ip: ${(err as Error).message}`,
          "floating_ip",
        );
      }
    }
    const vifs = listVifs(store, { instanceUuid: inst.uuid });
    b.ports.forEach((port, i) => {
      plugPort(store, inst.uuid, { port, mac: vifs[i].mac });
    });
    if (b.ports.length) await settled(deps.portsApplied);
    return c.json(instanceJson(store, getInstance(store, inst.uuid)), 201);
  });
  app.patch("/v1/instances/:ref", async (c) => {
    const b = await body(c, S.InstanceUpdate);
    const inst = updateInstance(store, c.req.param("ref"), {
      name: b.name,
      keyName: b.key_name,
      keyData: b.key_data,
      meta: b.meta,
      securityGroups: b.security_groups,
      userData:
        b.user_data === undefined
          ? undefined
          : b.user_data === null
            ? null
            : new Uint8Array(Buffer.from(b.user_data, "base64")),
    });
    return c.json(instanceJson(store, inst));
  });
  portRoutes(app, store, deps.portsApplied, () => deps.cluster, deps.announce);
  app.delete("/v1/instances/:ref", (c) => {
    return c.json(instanceJson(store, remove(store, allocator, c.req.param("ref"))));
  });

  app.post("/v1/instances/:ref/interfaces", async (c) => {
    const b = await body(c, S.InterfaceAttach);
    const inst = await attach(store, allocator, c.req.param("ref"), {
      network: b.network,
      mac: b.mac ?? undefined,
      fixedIp: b.fixed_ip ?? undefined,
    });
    return c.json(instanceJson(store, inst), 201);
  });
  app.post("/v1/instances/:ref/interfaces/detach", async (c) => {
    const b = await body(c, S.InterfaceDetach);
    const vif = detach(store, allocator, c.req.param("ref"), {
      mac: b.mac ?? undefined,
      address: b.address ?? undefined,
    });
    return c.json(instanceJson(store, getInstance(store, vif.instanceUuid)));
  });
  app.post("/v1/instances/:ref/security-groups", async (c) => {
    const b = await body(c, S.InstanceGroup);
    return c.json(instanceJson(store, addInstanceSecurityGroup(store, c.req.param("ref"), b.name)));
  });
  app.delete("/v1/instances/:ref/security-groups/:name", (c) =>
    c.json(instanceJson(store, removeInstanceSecurityGroup(store, c.req.param("ref"), c.req.param("name")))),
  );

  app.get("/v1/secgroups", (c) => {
    ensureDefaultGroup(store, c.req.query("project_id") ?? "admin");
    return c.json(listSecurityGroups(store, c.req.query("project_id")));
  });
  app.post("/v1/secgroups", async (c) => {
    const b = await body(c, S.SecgroupCreate);
    return c.json(createSecurityGroup(store, b.name, b.description, b.project_id), 201);
  });
  app.delete("/v1/secgroups/:ref", (c) =>
    c.json(deleteSecurityGroup(store, c.req.param("ref"), c.req.query("project_id") ?? "admin")),
  );
  app.get("/v1/secgroups/:ref/rules", (c) => {
    const g = resolveGroup(store, c.req.param("ref"), c.req.query("project_id") ?? "admin", "group");
    const names = new Map(listSecurityGroups(store).map((x) => [x.id, x.name]));
    return c.json(
      listRules(store, g.id).map((r) => ({
        ...r,
        sourceGroup: r.sourceGroupId ? (names.get(r.sourceGroupId) ?? null) : null,
      })),
    );
  });
  app.post("/v1/secgroups/:ref/rules", async (c) => {
    const b = await body(c, S.RuleBody);
    return c.json(
      addRule(store, c.req.param("ref"), b.project_id, {
        direction: b.direction,
        protocol: b.ip_protocol,
        fromPort: b.from_port,
        toPort: b.to_port,
        cidr: b.cidr,
        sourceGroup: b.source_group,
      }),
      201,
    );
  });
  app.delete("/v1/secgroups/:ref/rules/:id", (c) =>
    c.json(deleteRule(store, c.req.param("ref"), c.req.query("project_id") ?? "admin", { id: c.req.param("id") })),
  );
  app.post("/v1/secgroups/:ref/rules/delete", async (c) => {
    const b = await body(c, S.RuleBody);
    return c.json(
      deleteRule(store, c.req.param("ref"), b.project_id, {
        id: b.id,
        direction: b.direction,
        protocol: b.ip_protocol,
        fromPort: b.from_port,
        toPort: b.to_port,
        cidr: b.cidr,
        sourceGroup: b.source_group,
      }),
    );
  });

  app.get("/v1/floating-ips", (c) => c.json(listFloatingIps(store, { host: c.req.query("host") })));
  app.get("/v1/floating-ip-pools", (c) =>
    c.json([...new Set(listFloatingIps(store).map((f) => f.pool))].sort().map((name) => ({ name }))),
  );
  app.post("/v1/floating-ranges", async (c) => {
    const b = await body(c, S.FloatingRange);
    return c.json(
      createFloatingRange(
        store,
        b.pool ?? config.defaultFloatingPool,
        b.ip_range,
        b.interface ?? config.publicInterface,
        hostSubnets(),
      ),
      201,
    );
  });
  app.post("/v1/floating-ranges/delete", async (c) =>
    c.json({ deleted: deleteFloatingRange(store, (await body(c, S.FloatingRange)).ip_range) }),
  );
  app.post("/v1/floating-ips", async (c) => {
    const b = await body(c, S.FloatingAllocate);
    return c.json(allocateFloatingIp(store, b.pool ?? config.defaultFloatingPool, b.project_id), 201);
  });
  app.get("/v1/floating-ips/:address", (c) => c.json(getFloatingIp(store, c.req.param("address"))));
  app.delete("/v1/floating-ips/:address", (c) => c.json(deallocateFloatingIp(store, c.req.param("address"))));
  app.post("/v1/floating-ips/:address/associate", async (c) => {
    const b = await body(c, S.FloatingAssociate);
    return c.json(associateFloatingIp(store, b.instance, c.req.param("address"), b.fixed_address ?? undefined));
  });
  app.post("/v1/floating-ips/:address/disassociate", (c) =>
    c.json(disassociateFloatingIp(store, c.req.param("address"))),
  );

  app.post("/v1/projects/:id/scrub", (c) => {
    const project = c.req.param("id");
    return c.json(
      store.write(() => {
        const networks = disassociateProject(store, project).map((n) => n.label);
        const groups = listSecurityGroups(store, project).map(
          (g) => deleteSecurityGroup(store, g.id, project, { force: true }).name,
        );
        return { networks, security_groups: groups };
      }),
    );
  });

  app.get("/v1/leases", (c) => {
    const net = c.req.query("network");
    return c.json(listLeases(store, net ? getNetwork(store, net).id : undefined));
  });
  app.get("/v1/vifs", (c) => c.json(listVifs(store, { host: c.req.query("host") })));
  clusterRoutes(app, () => deps.cluster ?? null);
  app.get("/v1/dataplane", async (c) => c.json((await deps.dataplaneShow?.()) ?? null));
  app.get("/v1/dns/query", async (c) => {
    if (!deps.dnsQuery)
      return c.json({ error: "the DNS service is off (dns_service = false)", field: "dns_service" }, 409);
    const r = await deps.dnsQuery(c.req.query("name"), c.req.query("type"));
    return c.json(r.body as object, r.status);
  });
  app.post("/v1/agent/shutdown", (c) => {
    if (!deps.shutdown) return c.json({ error: "this admin API has no agent to shut down", field: null }, 404);
    // Answer first: the agent closes this socket while it stops.
    setTimeout(() => deps.shutdown?.(), 0);
    return c.json({ stopping: true, withdraw: true }, 202);
  });
  app.get("/v1/config", (c) => c.json({ path: deps.configPath ?? null, config }));
  app.get("/v1/status", (c) => c.json(deps.status?.() ?? { node: { id: store.nodeId } }));
  return app;
}
