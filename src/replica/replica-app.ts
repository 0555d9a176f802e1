// The HTTP surface of a replica: the primary's serving routes (predict, /invocations, OIP v2, /metrics) over its own
// registry, its own /health, and a 404 naming what it follows (its primary, or MLflow) for everything else.
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { Gauge, type Registry } from "prom-client";
import type { ReplicaConfig } from "../config.ts";
import { limitBody } from "../http/body-limit.ts";
import type { Lifecycle } from "../http/lifecycle.ts";
import { replicaHealthRoutes, type ReplicaHealthDeps } from "../http/replica-health.ts";
import { mountServing } from "../http/serving-routes.ts";
import { AppError, NotFoundError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import { hashToken, newToken } from "../lib/tokens.ts";
import type { ModelRegistry } from "../serving/model-registry.ts";

export type ReplicaAppDeps = Omit<ReplicaHealthDeps, "serving"> & {
  config: Pick<ReplicaConfig, "predictToken" | "maxBatchRows" | "maxRequestBytes">;
  registry: ModelRegistry;
  logger: Logger;
  /** When this replica started (ms since the epoch): the contact age before any contact. */
  startedAt: number;
};

const SMALL_BODY_BYTES = 64 * 1024;

/** Build a replica's Hono app. Errors map as in the primary's app: AppError → its status and JSON, else a logged 500. */
export function createReplicaApp(deps: ReplicaAppDeps) {
  const { registry, config } = deps;
  const app = new Hono();
  const source = deps.source();
  const following =
    source.kind === "primary"
      ? { of: `a replica of ${source.url}`, details: { primary: source.url } }
      : { of: `a replica following MLflow's "deployed" aliases at ${source.url}`, details: { mlflow: source.url } };
  const notHere = (path: string) =>
    new NotFoundError(
      `this server is ${following.of}: it only serves predictions; ${path} is not one of its routes (use the primary for the API, pages and pinned versions)`,
      following.details,
    );
  // Only what the primary deploys serves here: a pinned version is answered like any other route a replica lacks.
  const pinned = (c: { req: { path: string } }) => {
    throw notHere(c.req.path);
  };
  for (const path of ["/models/:name/versions/*", "/v2/models/:name/versions/*"]) app.all(path, pinned);
  // Bodies are capped before anything reads them; predictions cap their own (MAX_REQUEST_BYTES).
  app.use(
    "*",
    limitBody(SMALL_BODY_BYTES, `the request body is larger than ${SMALL_BODY_BYTES} bytes`, (p) => p.startsWith("/v2/") || p.startsWith("/models/")),
  );
  app.route("/health", replicaHealthRoutes({ ...deps, serving: () => registry.serving() }));
  mountServing(app, {
    config,
    // A replica has no admin token: an unguessable one nobody holds, so PREDICT_TOKEN alone opens predictions.
    secrets: { adminTokenSha256: hashToken(newToken()) },
    version: deps.version,
    lifecycle: deps.lifecycle,
    registry,
    // Only the serving version of each model: no stored history to pin or list.
    modelStore: {
      versions: (name) => {
        const v = registry.version(name);
        return v === undefined ? [] : [{ version: v }];
      },
      get: (name, version) => {
        throw new NotFoundError(`model "${name}" has no version ${version} on this replica`);
      },
      everDeployed: () => [],
    },
    queueDepth: () => 0,
    moreMetrics: (prom) => replicaGauges(prom, deps),
  });
  app.notFound((c) => c.json({ error: notHere(new URL(c.req.url).pathname).message, ...following.details }, 404));
  app.onError((err, c) => {
    if (err instanceof AppError) return c.json({ error: err.message, ...err.details }, err.status);
    if (err instanceof HTTPException) return c.json({ error: err.message || "request failed" }, err.status);
    deps.logger.error({ err, path: c.req.path }, "unhandled error");
    return c.json({ error: "internal error; see the replica's log" }, 500);
  });
  return app;
}

function replicaGauges(prom: Registry, deps: ReplicaAppDeps): void {
  // Named for the source, so an alert on a primary's replicas never reads an MLflow follower's figures.
  const kind = deps.source().kind;
  new Gauge({
    name: `mlops_replica_${kind}_last_contact_seconds`,
    help:
      kind === "primary"
        ? "Seconds since this replica last heard a byte from its primary (since it started, before the first)."
        : "Seconds since this replica last read MLflow's registry (since it started, before the first).",
    registers: [prom],
    collect() {
      this.set(Math.max(0, (Date.now() - (deps.source().lastContactAt ?? deps.startedAt)) / 1000));
    },
  });
  new Gauge({
    name: `mlops_replica_${kind}_reachable`,
    help: kind === "primary" ? "1 while the primary's deployments stream is open, else 0." : "1 while MLflow's registry answered the last read, else 0.",
    registers: [prom],
    collect() {
      this.set(deps.source().reachable ? 1 : 0);
    },
  });
  new Gauge({
    name: "mlops_replica_revision",
    help: "The revision of the desired state this replica serves (-1 before its first state).",
    registers: [prom],
    collect() {
      this.set(deps.applied()?.revision ?? -1);
    },
  });
}
