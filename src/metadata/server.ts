/**
 * The listener shell around the metadata app. Bun tells a handler the peer address
 * (`server.requestIP`) but not the local address a request arrived on, so the network a
 * request came from is known by listening once per bridge host address (the DNAT target of
 * that bridge's 169.254.169.254:80 rule) and asking `networkOf(address)` for each listener. A
 * wildcard listener (0.0.0.0) gets networkId null: the source address alone must then be
 * unambiguous.
 */
import type { Server } from "bun";
import type { ConnInfo } from "./app.ts";
import { limitHops } from "../sys/hop-limit.ts";
import { createLogger, type Logger } from "../log.ts";

export interface MetadataServerOptions {
  /** Where a listener that cannot be opened is reported. */
  log?: Logger;
  app: { fetch(request: Request, env: ConnInfo): Response | Promise<Response> };
  /** Addresses to listen on (nova `metadata_listen`), typically one per bridge host address. */
  listen: string[];
  /** nova `metadata_listen_port`. @default 8775 */
  port?: number;
  /** The network whose bridge carries `address`; null for wildcard or unknown addresses. */
  networkOf: (address: string) => string | null;
  /**
   * IP TTL / hop limit of every response (IMDSv2 `HttpPutResponseHopLimit`); 1 keeps tokens
   * on-link. null keeps the kernel default (needed when a proxy several hops away fronts us).
   * @default 1
   */
  hopLimit?: number | null;
  /** Largest request body Bun accepts, bytes. @default 65536 */
  maxRequestBodySize?: number;
  /**
   * SO_REUSEPORT, so several processes can share the listeners (nova `metadata_workers`). Off:
   * on the 2-vCPU development host two processes showed no repeatable gain over one (see
   * bench/metadata/run.ts, WORKERS=2). Processes sharing a port must share `tokenKey` and all
   * receive invalidations. @default false
   */
  reusePort?: boolean;
}

export interface MetadataServer {
  /** The port listened on (resolved when `port` was 0 and there is one listener). */
  readonly port: number;
  /** Addresses currently served. */
  addresses(): string[];
  /**
   * Opens listeners for new addresses and closes those no longer wanted (networks come and go);
   * returns the addresses that could not be bound (retry later).
   */
  setListen(addresses: string[]): string[];
  stop(): Promise<void>;
}

export function startMetadataServer(opts: MetadataServerOptions): MetadataServer {
  const port = opts.port ?? 8775;
  const log = opts.log ?? createLogger({ base: { component: "metadata" } });
  const hopLimit = opts.hopLimit === undefined ? 1 : opts.hopLimit;
  const servers = new Map<string, Server<undefined>>();

  function open(address: string): void {
    const networkId = opts.networkOf(address);
    const server = Bun.serve({
      hostname: address,
      port,
      maxRequestBodySize: opts.maxRequestBodySize ?? 65536,
      reusePort: opts.reusePort ?? false,
      fetch(request, srv) {
        const peer = srv.requestIP(request);
        return opts.app.fetch(request, { address: peer?.address ?? "", networkId });
      },
    });
    // Set after every open: applies to the new listener (others already carry it).
    if (hopLimit !== null && limitHops(server.port!, hopLimit) === 0) {
      server.stop(true);
      throw new Error(
        `Cannot limit the hop count of metadata responses: no listener on port ${server.port} found in /proc/self/fd`,
      );
    }
    servers.set(address, server);
  }

  /**
   * Opens what is missing and closes what is no longer wanted. An address that cannot be bound
   * yet (a bridge address not configured yet) is skipped, logged and returned, so the caller
   * can retry on its next reconcile; a failure to set the hop limit is thrown.
   */
  function setListen(addresses: string[]): string[] {
    const wanted = new Set(addresses);
    for (const [address, server] of servers) {
      if (!wanted.has(address)) {
        server.stop(true);
        servers.delete(address);
      }
    }
    const failed: string[] = [];
    for (const address of wanted) {
      if (servers.has(address)) continue;
      try {
        open(address);
      } catch (err) {
        if (err instanceof Error && err.message.startsWith("Cannot limit")) throw err;
        log.warn("cannot listen", { address, port, err: (err as Error).message });
        failed.push(address);
      }
    }
    return failed;
  }

  setListen(opts.listen);
  return {
    port: servers.values().next().value?.port ?? port,
    addresses: () => [...servers.keys()],
    setListen,
    async stop() {
      await Promise.all([...servers.values()].map((s) => s.stop(true)));
      servers.clear();
    },
  };
}
