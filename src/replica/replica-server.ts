// Composition root of `mlops replica <primary URL>`: cache → registry → sync → primary client → HTTP. It syncs
// first (or falls back to its cache when the primary cannot be reached), then opens its port; stop() drains.
import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { ReplicaConfig } from "../config.ts";
import { listen } from "../http/listen.ts";
import type { Lifecycle } from "../http/lifecycle.ts";
import { createLogger, type Logger } from "../lib/logger.ts";
import { VERSION } from "../lib/version.ts";
import { ModelRegistry } from "../serving/model-registry.ts";
import { openWorkerSession } from "../serving/worker-session.ts";
import { ModelCache } from "./model-cache.ts";
import { PrimaryClient, type PrimaryClientOptions } from "./primary-client.ts";
import { createReplicaApp } from "./replica-app.ts";
import { ReplicaSync } from "./replica-sync.ts";

export type RunningReplica = {
  url: string;
  port: number;
  logger: Logger;
  client: PrimaryClient;
  sync: ReplicaSync;
  /**
   * Drain and stop: /health answers 503 at once while predictions are still served for SHUTDOWN_GRACE_SECONDS (a
   * load balancer takes the replica out), then the port closes, requests in flight finish, sessions are released.
   * Idempotent: later calls return the same promise.
   */
  stop(): Promise<void>;
  /** During stop()'s grace period: end it now. No-op otherwise. */
  hurry(): void;
};

/**
 * Start a replica of `config.primaryUrl`: take the primary's state (or, when the primary cannot be reached, the
 * cache's last one) and load it, then listen. With neither, it listens anyway and answers /health 503 until its first
 * sync. Throws if the port cannot be bound. `client` tunes the primary client (tests shorten its timeouts).
 */
export async function startReplica(
  config: ReplicaConfig,
  opts: { logger?: Logger; client?: Pick<PrimaryClientOptions, "idleMs" | "backoffMs"> } = {},
): Promise<RunningReplica> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const startedAt = Date.now();
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  chmodSync(config.dataDir, 0o700);
  const lifecycle: Lifecycle = { phase: "starting" };
  const cache = new ModelCache(join(config.dataDir, "replica"));
  // Each model loads and runs in a worker thread of its own, as on the primary.
  const registry = new ModelRegistry(openWorkerSession);
  const client = new PrimaryClient({ url: config.primaryUrl, token: config.replicaToken, logger, ...opts.client });
  const sync = new ReplicaSync({ registry, cache, download: (name, version, expected, dest) => client.download(name, version, expected, dest), logger });
  sync.onApplied(() => {
    if (lifecycle.phase === "starting") lifecycle.phase = "ready";
  });

  // The first outcome decides how the replica starts: the primary's state applied, or the primary unreachable.
  const first = Promise.withResolvers<"primary" | "unreachable">();
  client.follow({
    onState: (state) => void sync.apply(state, "primary").then(() => first.resolve("primary")),
    onDown: () => first.resolve("unreachable"),
  });
  if ((await first.promise) === "unreachable") {
    const cached = cache.readState();
    if (cached) {
      logger.warn(
        { primary: config.primaryUrl, revision: cached.revision, models: Object.keys(cached.models) },
        "the primary cannot be reached: serving what the cache last held until it can",
      );
      await sync.apply(cached, "cache");
    } else {
      logger.warn({ primary: config.primaryUrl }, "the primary cannot be reached and the cache is empty: /health answers 503 until the first sync");
    }
  }

  const app = createReplicaApp({
    config,
    registry,
    logger,
    startedAt,
    lifecycle,
    version: VERSION,
    primary: () => client.status(),
    applied: () => sync.current(),
    problems: () => sync.problems(),
  });
  const http = listen({ port: config.port, host: config.host, fetch: app.fetch });
  const { url } = http;
  logger.info({ url, version: VERSION, primary: config.primaryUrl, data_dir: config.dataDir, serving: registry.serving() }, "mlops replica ready");

  let stopping: Promise<void> | undefined;
  let endGrace = () => {};
  return {
    url,
    port: http.port,
    logger,
    client,
    sync,
    stop() {
      stopping ??= (async () => {
        lifecycle.phase = "stopping";
        const graceMs = config.shutdownGraceSeconds * 1000;
        if (graceMs > 0) {
          logger.info({ grace_seconds: config.shutdownGraceSeconds }, "draining: /health answers 503 while predictions are still served");
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, graceMs);
            endGrace = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
        client.close();
        await http.stop();
        await registry.close();
      })();
      return stopping;
    },
    hurry() {
      endGrace();
    },
  };
}
