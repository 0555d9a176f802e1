// Test support: a real app on a real SQLite file in a temp dir, with a known admin token.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp, type AppDeps } from "../app.ts";
import { Deliveries, type AcceptPush } from "../github/deliveries.ts";
import { adminTag, PageSessions, SESSION_SECONDS } from "../auth/page-sessions.ts";
import { pageSessions } from "../db/schema.ts";
import { SESSION_COOKIE } from "../http/page-auth.ts";
import { loadConfig } from "../config.ts";
import { databaseOk, migrate, openDatabase, type Db } from "../db/connection.ts";
import { ensureSecrets } from "../db/settings-store.ts";
import { hashToken } from "../lib/tokens.ts";
import { createLogger } from "../lib/logger.ts";
import { Deployer } from "../models/deployer.ts";
import { ModelStore } from "../models/model-store.ts";
import { LogBus } from "../pipeline/log-bus.ts";
import { PipelineEnding } from "../pipeline/pipeline-ending.ts";
import { PipelineStore } from "../pipeline/pipeline-store.ts";
import { ArtifactUploads } from "../pipeline/artifact-upload.ts";
import { UploadTokens } from "../pipeline/upload-tokens.ts";
import { ModelRegistry } from "../serving/model-registry.ts";
import { DeploymentsFeed } from "../replication/deployments-feed.ts";
import { ReplicaTokens } from "../replication/replica-tokens.ts";
import { PipelineService, type RepoSource } from "../pipeline/pipeline-service.ts";
import { JobStore } from "../queue/job-store.ts";
import { RepoStore } from "../repos/repo-store.ts";
import { openWorkerSession } from "../serving/worker-session.ts";

export const TEST_ADMIN_TOKEN = "test-admin-token-0123456789";
// Every test app holds a live page session with this id, and one made under another admin token (which must not pass).
const TEST_SESSION_ID = "test-page-session-id-0123456789abcdef";
const FOREIGN_SESSION_ID = "test-page-session-of-another-admin-token";
/** The Cookie header of the test app's page session. */
export const SIGNED_IN = { Cookie: `${SESSION_COOKIE}=${TEST_SESSION_ID}` };
/** The Cookie header of a session made under another admin token (a reset, or another ADMIN_TOKEN). */
export const FOREIGN_SESSION = { Cookie: `${SESSION_COOKIE}=${FOREIGN_SESSION_ID}` };
export const TEST_WEBHOOK_SECRET = "test-webhook-secret";

/** What a test may replace in a test app's deps; `acceptPush` is what its webhook deliveries hand verified pushes to. */
export type TestAppOverrides = Partial<AppDeps> & { acceptPush?: AcceptPush };

/** A fresh app, its deps and its database on a new temp data dir; `env` adds configuration variables. */
export function makeTestApp(env: Record<string, string> = {}, { acceptPush, ...overrides }: TestAppOverrides = {}) {
  const dir = mkdtempSync(join(tmpdir(), "mlops-app-"));
  const config = loadConfig(
    { DATA_DIR: join(dir, "data"), ADMIN_TOKEN: TEST_ADMIN_TOKEN, GITHUB_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET, LOG_LEVEL: "silent", ...env },
    dir,
  );
  const db = openDatabase(config.databasePath);
  migrate(db);
  const pipelineStore = new PipelineStore(db);
  const modelStore = new ModelStore(db);
  const registry = new ModelRegistry(openWorkerSession);
  const secrets = ensureSecrets(db, config);
  const repos = overrides.repos ?? new RepoStore(db);
  const logger = createLogger("silent");
  const deployer = new Deployer(modelStore, registry);
  const deploymentsFeed = new DeploymentsFeed(db, logger);
  deploymentsFeed.follow(deployer);
  const deps: AppDeps = {
    config,
    secrets,
    pageSessions: new PageSessions(db, secrets.adminTokenSha256),
    repos,
    version: "0.0.0-test",
    lifecycle: { phase: "ready" },
    logger,
    // No notebook runs in these tests; the status follows the setting, as a server where bubblewrap works reports it.
    sandbox:
      config.notebook.sandbox === "off"
        ? { setting: "off", active: false, problem: "NOTEBOOK_SANDBOX=off" }
        : { setting: config.notebook.sandbox, active: true },
    modelsServing: () => 0,
    queueDepth: () => 0,
    runRepo: () => Promise.reject(new Error("runRepo is not set up in this test: pass it in makeTestApp overrides")),
    deliveries: new Deliveries({
      db,
      repos,
      logger,
      acceptPush:
        acceptPush ??
        (() => {
          throw new Error("acceptPush is not set up in this test: pass it in makeTestApp overrides");
        }),
    }),
    pipelineStore,
    pipelineCounts: () => pipelineStore.countByStatus(),
    databaseOk: () => databaseOk(db),
    bus: new LogBus(pipelineStore),
    pipelineActions: {
      cancel: () => Promise.reject(new Error("pipelineActions are not set up in this test: pass them in makeTestApp overrides")),
      retry: () => Promise.reject(new Error("pipelineActions are not set up in this test: pass them in makeTestApp overrides")),
    },
    modelStore,
    registry,
    deployer,
    replicaTokens: new ReplicaTokens(db),
    deploymentsFeed,
    artifactUploads: new ArtifactUploads({ tokens: new UploadTokens(db), dataDir: config.dataDir, maxBytes: config.maxArtifactBytes }),
    ...overrides,
  };
  const app = createApp(deps);
  const expiresAt = Date.now() + SESSION_SECONDS * 1000;
  const session = (id: string, adminTokenSha256: string) =>
    db
      .insert(pageSessions)
      .values({ idSha256: hashToken(id), adminTag: adminTag(id, adminTokenSha256), expiresAt })
      .run();
  session(TEST_SESSION_ID, secrets.adminTokenSha256);
  session(FOREIGN_SESSION_ID, hashToken("some-other-admin-token-0123456789"));
  const auth = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  return { app, deps, db, dir, auth };
}

/**
 * A real PipelineService over a test app's deps: its real job queue on the same SQLite file, `source` for git, and
 * `repos` for finding repositories. No worker runs, so the pipelines it creates stay queued; it runs no notebook,
 * checkout or conversion.
 */
export function testPipelineService(
  { deps, db }: { deps: AppDeps; db: Db },
  opts: { source: RepoSource; repos?: RepoStore; notebooksToRun?: (changed: string[] | "all", all: string[], glob: string) => string[] },
) {
  const notUsed = () => Promise.reject(new Error("this test's pipeline service runs no notebook, checkout or conversion"));
  const findRepo = (id: number) => opts.repos?.find(id);
  const jobs = new JobStore(db);
  const service = new PipelineService(
    {
      config: deps.config,
      store: deps.pipelineStore,
      bus: deps.bus,
      ending: new PipelineEnding(deps.pipelineStore, deps.bus),
      models: deps.modelStore,
      deployer: deps.deployer,
      loadModel: openWorkerSession,
      findRepo,
      checkout: notUsed,
      runner: {
        name: "none",
        runsOutliveServer: false,
        unavailable: async () => undefined,
        prepare: notUsed,
        submit: () => {
          throw new Error("this test's pipeline service runs no notebook");
        },
        attach: () => undefined,
      },
      convertJoblib: notUsed,
    },
    jobs,
    opts.source,
    { findIntakeRepo: findRepo, notebooksToRun: opts.notebooksToRun ?? (() => []) },
  );
  return { service, jobs };
}
