// createApp(deps): the whole HTTP surface as a Hono app, used by main.ts and by tests (app.request).
import { Hono } from "hono";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import type { Config } from "./config.ts";
import type { Secrets } from "./db/settings-store.ts";
import { artifactRoutes, isArtifactUploadPath } from "./http/artifacts.ts";
import { requireAdmin } from "./http/auth.ts";
import { DEFAULT_MAX_BODY_BYTES, limitBody } from "./http/body-limit.ts";
import { healthRoutes } from "./http/health.ts";
import { repoRoutes, type RunRepo } from "./http/repos.ts";
import type { Deliveries } from "./github/deliveries.ts";
import type { Lifecycle } from "./http/lifecycle.ts";
import type { HealthDeps, PipelineAndModelDeps } from "./http/page-deps.ts";
import { deliveryRoutes, webhookRoutes } from "./http/webhook.ts";
import { modelRoutes } from "./http/models.ts";
import { htmlError, pageRoutes, wantsHtml } from "./http/pages.tsx";
import { pipelineRoutes } from "./http/pipelines.ts";
import { replicaTokenRoutes } from "./http/replica-tokens.ts";
import { replicationRoutes, type ReplicationDeps } from "./http/replication.ts";
import { mountServing } from "./http/serving-routes.ts";
import { AppError } from "./lib/errors.ts";
import type { Logger } from "./lib/logger.ts";
import type { PageSessions } from "./auth/page-sessions.ts";
import type { ArtifactUploads } from "./pipeline/artifact-upload.ts";
import type { RepoStore } from "./repos/repo-store.ts";
import type { SandboxStatus } from "./sandbox/notebook-sandbox.ts";
import { RecentRequests } from "./serving/recent-requests.ts";
import { withPageHeaders } from "./http/page-security.ts";

/** Everything the HTTP layer uses; main.ts builds it, tests build it on a temp dir. */
export type AppDeps = {
  config: Config;
  secrets: Secrets;
  version: string;
  lifecycle: Lifecycle;
  logger: Logger;
  /** Whether pushed code runs sandboxed; shown in /health and on pipeline pages. */
  sandbox: SandboxStatus;
  modelsServing: () => number;
  queueDepth: () => number;
  /** Registered repositories. */
  repos: RepoStore;
  /** POST /api/repos/{id}/run: start pipelines for the head of the repository's branch. */
  runRepo: RunRepo;
  /** Webhook deliveries: intake (verified, deduplicated, decided, group-committed) and listing. */
  deliveries: Deliveries;
  /** Pipelines' MLflow syncs by status for /metrics; absent without MLFLOW_TRACKING_URI. */
  mlflowSyncCounts?: () => Record<string, number>;
  /** Page sessions (sign-in cookies). */
  pageSessions: PageSessions;
  /** Pipelines by status for /metrics. */
  pipelineCounts: () => Record<string, number>;
  /** Whether the database answers (GET /health). */
  databaseOk: () => boolean;
  /** POST /api/pipelines/{id}/artifacts: results sent back by a notebook run elsewhere, with its upload token. */
  artifactUploads: ArtifactUploads;
  /** The home page's per-model request window; a fresh one when absent (tests give one on a stepped clock). */
  recentRequests?: RecentRequests;
} & PipelineAndModelDeps &
  ReplicationDeps &
  HealthDeps;

/** Build the Hono app. Errors thrown as AppError become `{"error": ...}` with their status; anything else is a logged 500. */
export function createApp(deps: AppDeps) {
  const app = new Hono();
  const recentRequests = deps.recentRequests ?? new RecentRequests();
  // Every body is capped before it is read; predictions and the webhook take bigger ones and cap them in their routes.
  app.use(
    "*",
    limitBody(DEFAULT_MAX_BODY_BYTES, `the request body is larger than ${DEFAULT_MAX_BODY_BYTES} bytes, the limit for the API and pages`, capsItsOwnBody),
  );
  const api = new Hono();
  // A separate web frontend (FRONTEND_URL) may call the JSON API from the browser; preflights carry no token.
  if (deps.config.frontendUrl)
    api.use("*", cors({ origin: deps.config.frontendUrl, allowHeaders: ["Authorization", "Content-Type", "Last-Event-ID"], maxAge: 600 }));
  api.use("*", requireAdmin(deps.secrets.adminTokenSha256));
  api.get("/settings/webhook", (c) => c.json({ url_path: "/webhook/github", content_type: "application/json", secret: deps.secrets.webhookSecret }));

  const { repos } = deps;
  api.route("/repos", repoRoutes({ repos, runRepo: deps.runRepo }));
  const deliveries = deps.deliveries;
  api.route("/deliveries", deliveryRoutes({ deliveries }));
  api.route("/pipelines", pipelineRoutes({ ...deps, repoName: (id) => repos.find(id)?.full_name }));
  api.route("/models", modelRoutes(deps));
  api.route("/replica-tokens", replicaTokenRoutes(deps));

  app.route("/health", healthRoutes(deps));
  app.route("/webhook", webhookRoutes({ deliveries, webhookSecret: deps.secrets.webhookSecret }));
  // Ahead of /api's admin check, which it must not pass through: its one credential is the pipeline's upload token.
  app.route("/api/pipelines", artifactRoutes(deps));
  // Likewise ahead of it: a replica token is good here (and only here), beside the admin token.
  app.route("/api/replication", replicationRoutes({ ...deps, adminTokenSha256: deps.secrets.adminTokenSha256 }));
  app.route("/api", api);
  app.route(
    "/",
    pageRoutes({
      ...deps,
      adminTokenSha256: deps.secrets.adminTokenSha256,
      serving: () => deps.registry.serving(),
      repoName: (id) => repos.find(id)?.full_name,
      repos,
      webhookSecret: deps.secrets.webhookSecret,
      recentRequests,
    }),
  );
  mountServing(app, { ...deps, recentRequests }); // /models/{name}/predict|invocations, /v2, /metrics

  app.notFound((c) => {
    const message = `no route for ${c.req.method} ${new URL(c.req.url).pathname}`;
    if (!wantsHtml(c)) return c.json({ error: message }, 404);
    return withPageHeaders(c.html(htmlError(deps.version, 404, message, c.req.header("hx-request") === "true"), 404));
  });
  app.onError((err, c) => {
    if (err instanceof AppError) {
      if (wantsHtml(c)) return withPageHeaders(c.html(htmlError(deps.version, err.status, err.message, c.req.header("hx-request") === "true"), err.status));
      return c.json({ error: err.message, ...err.details }, err.status);
    }
    if (err instanceof HTTPException) return c.json({ error: err.message || "request failed" }, err.status);
    deps.logger.error({ err, path: c.req.path }, "unhandled error");
    return c.json({ error: "internal error; see the server log" }, 500);
  });
  return app;
}

export type App = ReturnType<typeof createApp>;

// The routes that read bodies bigger than the default cap, each capping its own: predict, invocations, OIP infer, the
// webhook, the artifact upload.
function capsItsOwnBody(path: string): boolean {
  return (
    path.startsWith("/webhook/") ||
    path.startsWith("/v2/") ||
    (path.startsWith("/models/") && (path.endsWith("/predict") || path.endsWith("/invocations"))) ||
    isArtifactUploadPath(path)
  );
}
