// Composition root of `mlops replica <primary URL>` and `mlops replica --follow-mlflow`: cache → registry → sync →
// source (the primary client or the MLflow source) → HTTP. It syncs first (or falls back to its cache when the source
// cannot be reached), then opens its port; stop() drains.
import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { ReplicaConfig } from "../config.ts";
import { listen } from "../http/listen.ts";
import type { Lifecycle } from "../http/lifecycle.ts";
import { createLogger, type Logger } from "../lib/logger.ts";
import { VERSION } from "../lib/version.ts";
import { ModelRegistry } from "../serving/model-registry.ts";
import { openWorkerSession } from "../serving/worker-session.ts";
import { VersionSigner } from "../mlflow/model-signature.ts";
import { MlflowSource, type MlflowSourceOptions } from "./mlflow-source.ts";
import { ModelCache } from "./model-cache.ts";
import { PrimaryClient, type PrimaryClientOptions } from "./primary-client.ts";
import { createReplicaApp } from "./replica-app.ts";
import { ReplicaSync } from "./replica-sync.ts";
import type { DesiredStateSource } from "./state-source.ts";

export type RunningReplica = {
  url: string;
  port: number;
  logger: Logger;
  /** What it follows: a PrimaryClient or an MlflowSource. */
  client: DesiredStateSource;
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
 * Start a replica following `config.follow` (a primary, or MLflow's aliases): take the source's state (or, when the
 * source cannot be reached, the cache's last one) and load it, then listen. With neither, it listens anyway and
 * answers /health 503 until its first sync. Throws if the port cannot be bound. `client` tunes the primary client and
 * `mlflow` the MLflow source (tests shorten their timeouts).
 */
export async function startReplica(
  config: ReplicaConfig,
  opts: {
    logger?: Logger;
    client?: Pick<PrimaryClientOptions, "idleMs" | "backoffMs">;
    mlflow?: Pick<MlflowSourceOptions, "retryMs" | "timeoutMs">;
  } = {},
): Promise<RunningReplica> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const startedAt = Date.now();
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  chmodSync(config.dataDir, 0o700);
  const lifecycle: Lifecycle = { phase: "starting" };
  const cache = new ModelCache(join(config.dataDir, "replica"));
  // Each model loads and runs in a worker thread of its own, as on the primary.
  const registry = new ModelRegistry(openWorkerSession);
  const follow = config.follow;
  const client: DesiredStateSource =
    follow.kind === "primary"
      ? new PrimaryClient({ url: follow.url, token: follow.token, logger, ...opts.client })
      : new MlflowSource({
          url: follow.url,
          // The derived key only: it verifies the primary's signatures and cannot sign a webhook delivery.
          verifier: new VersionSigner({ key: follow.signatureKey }),
          logger,
          pollMs: follow.pollSeconds * 1000,
          // Above the cache's, so the revision a restarted replica reports keeps growing.
          firstRevision: (cache.readState()?.revision ?? 0) + 1,
          ...opts.mlflow,
        });
  const source = client.status();
  const sync = new ReplicaSync({ registry, cache, download: (name, version, expected, dest) => client.download(name, version, expected, dest), logger });
  sync.onApplied(() => {
    if (lifecycle.phase === "starting") lifecycle.phase = "ready";
  });

  // The first outcome decides how the replica starts: the source's state applied, or the source unreachable.
  const first = Promise.withResolvers<"source" | "unreachable">();
  client.follow({
    onState: (state, refused) => void sync.apply(state, client.kind, refused).then(() => first.resolve("source")),
    onDown: () => first.resolve("unreachable"),
  });
  const where = { [source.kind]: source.url };
  const what = source.kind === "primary" ? "the primary" : "MLflow";
  if ((await first.promise) === "unreachable") {
    const cached = cache.readState();
    if (cached) {
      logger.warn(
        { ...where, revision: cached.revision, models: Object.keys(cached.models) },
        `${what} cannot be reached: serving what the cache last held until it can`,
      );
      await sync.apply(cached, "cache");
    } else {
      logger.warn(where, `${what} cannot be reached and the cache is empty: /health answers 503 until the first sync`);
    }
  }

  const app = createReplicaApp({
    config,
    registry,
    logger,
    startedAt,
    lifecycle,
    version: VERSION,
    source: () => client.status(),
    applied: () => sync.current(),
    problems: () => sync.problems(),
  });
  const http = listen({ port: config.port, host: config.host, fetch: app.fetch });
  const { url } = http;
  logger.info({ url, version: VERSION, ...where, data_dir: config.dataDir, serving: registry.serving() }, "mlops replica ready");

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
