// Mounts everything that answers predictions: /models (native and MLflow), /v2 (Open Inference Protocol), /metrics.
import type { Hono } from "hono";
import type { Registry } from "prom-client";
import type { PageSessions } from "../auth/page-sessions.ts";
import type { Config } from "../config.ts";
import type { ModelRegistry } from "../serving/model-registry.ts";
import { hashToken } from "../lib/tokens.ts";
import { PredictMetrics } from "../serving/predict-metrics.ts";
import type { RecentRequests } from "../serving/recent-requests.ts";
import type { Lifecycle } from "./lifecycle.ts";
import { requirePredictAccess } from "./predict-access.ts";
import { invocationRoutes } from "./invocations.ts";
import { createMetricsRegistry, metricsRoutes } from "./metrics.ts";
import { oipRoutes } from "./oip.ts";
import { predictRoutes } from "./predict.ts";
import type { VersionStore } from "./serving-support.ts";

export type ServingAppDeps = {
  config: Pick<Config, "maxBatchRows" | "maxRequestBytes" | "predictToken"> & { publicUrl?: string };
  /** The admin token's hash: with PREDICT_TOKEN set, the admin token may call predictions too. */
  secrets: { adminTokenSha256: string };
  version: string;
  lifecycle: Lifecycle;
  registry: ModelRegistry;
  modelStore: VersionStore;
  queueDepth: () => number;
  /** Pipelines by status, read at each scrape; absent on a replica (it runs no pipelines). */
  pipelineCounts?: () => Record<string, number>;
  /** Pipelines' MLflow syncs by status; absent without MLflow tracking. */
  mlflowSyncCounts?: () => Record<string, number>;
  /** With PREDICT_TOKEN, the signed-in model page may predict too (src/http/predict-access.ts); absent on a replica. */
  pageSessions?: Pick<PageSessions, "valid">;
  /** Adds gauges of its own to the metrics registry (a replica's view of its primary). */
  moreMetrics?: (registry: Registry) => void;
  /** Hears every prediction request too: the home page's requests per minute and error rate per model. */
  recentRequests?: RecentRequests;
};

// Every serving path; /v2/health/live and /v2/health/ready stay open for probes, as /health does.
const PROTECTED_PATHS = [
  "/models/:name/predict",
  "/models/:name/versions/:version/predict",
  "/models/:name/invocations",
  "/v2",
  "/v2/models/*",
  "/metrics",
  "/metrics/*",
];

/** Add the prediction routes and /metrics to `app`, with a metrics registry of its own. */
export function mountServing(app: Hono, deps: ServingAppDeps): void {
  const { registry } = deps;
  const prom = createMetricsRegistry({
    version: deps.version,
    modelsLoaded: () => ({ serving: registry.count(), pinned: registry.pinnedCount() }),
    queueDepth: deps.queueDepth,
    pipelineCounts: deps.pipelineCounts,
    mlflowSyncCounts: deps.mlflowSyncCounts,
  });
  deps.moreMetrics?.(prom);
  const serving = {
    registry,
    modelStore: deps.modelStore,
    metrics: new PredictMetrics(prom, deps.recentRequests),
    limits: { maxBatchRows: deps.config.maxBatchRows, maxRequestBytes: deps.config.maxRequestBytes },
    adminTokenSha256: deps.secrets.adminTokenSha256,
  };
  if (deps.config.predictToken) {
    // With PREDICT_TOKEN, everything here but the OIP health probes needs it or the admin token (or is the signed-in
    // model page). Registered before the routes so an unauthorized request is refused before its body is read.
    const guard = requirePredictAccess([hashToken(deps.config.predictToken), deps.secrets.adminTokenSha256], deps.pageSessions, deps.config.publicUrl);
    for (const path of PROTECTED_PATHS) app.use(path, guard);
  }
  app.route("/models", predictRoutes(serving));
  app.route("/models", invocationRoutes(serving));
  app.route("/v2", oipRoutes({ ...serving, version: deps.version, lifecycle: deps.lifecycle }));
  app.route("/metrics", metricsRoutes(prom));
}
