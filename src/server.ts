// Composition root: config → db → queue → pipeline services → model registry → workers → HTTP; stop() undoes it.
import { chmodSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { createApp } from "./app.ts";
import { listen } from "./http/listen.ts";
import type { Lifecycle } from "./http/lifecycle.ts";
import type { Config } from "./config.ts";
import { databaseOk, migrate, openDatabase } from "./db/connection.ts";
import { ensureSecrets } from "./db/settings-store.ts";
import { GitMirror, gitTokenScope } from "./git/git-mirror.ts";
import { notebooksToRun } from "./git/notebook-paths.ts";
import { COMMIT_STATUS_JOB, CommitStatuses } from "./github/commit-status.ts";
import { commitStatusHealth } from "./github/commit-status-health.ts";
import type { Clock } from "./lib/clock.ts";
import { createLogger, type Logger } from "./lib/logger.ts";
import { VERSION } from "./lib/version.ts";
import { MlflowClient } from "./mlflow/mlflow-client.ts";
import { MlflowSyncStore } from "./mlflow/mlflow-sync-store.ts";
import { Deliveries, noteDelivery } from "./github/deliveries.ts";
import { restoreFromMlflow } from "./mlflow/mlflow-restore.ts";
import { VersionSigner } from "./mlflow/model-signature.ts";
import { PageSessions } from "./auth/page-sessions.ts";
import { MLFLOW_ALIAS_JOB, MLFLOW_SYNC_JOB, MlflowTracking } from "./mlflow/mlflow-tracking.ts";
import { Deployer } from "./models/deployer.ts";
import { ModelStore } from "./models/model-store.ts";
import { DeploymentsFeed } from "./replication/deployments-feed.ts";
import { ReplicaTokens } from "./replication/replica-tokens.ts";
import { convertJoblib } from "./pipeline/convert-joblib.ts";
import { LogBus } from "./pipeline/log-bus.ts";
import type { PipelineServices } from "./pipeline/pipeline-context.ts";
import { LocalRunner, withEnvironment } from "./runner/local-runner.ts";
import { RayJobsClient } from "./runner/ray-jobs-client.ts";
import { notebookResources, resourcesFor } from "./runner/ray-resources.ts";
import { RayRunner } from "./runner/ray-runner.ts";
import { PipelineEnding, type EndListener } from "./pipeline/pipeline-ending.ts";
import { JobKind, PipelineService } from "./pipeline/pipeline-service.ts";
import { PipelineStore } from "./pipeline/pipeline-store.ts";
import { Retention } from "./pipeline/retention.ts";
import { UploadTokens } from "./pipeline/upload-tokens.ts";
import { ArtifactUploads } from "./pipeline/artifact-upload.ts";
import type { Job } from "./queue/job-states.ts";
import { JobStore } from "./queue/job-store.ts";
import { WorkerPool } from "./queue/worker-pool.ts";
import { RepoStore } from "./repos/repo-store.ts";
import { NotebookSandbox } from "./sandbox/notebook-sandbox.ts";
import { PythonEnvironments } from "./environments/python-environments.ts";
import { ModelRegistry } from "./serving/model-registry.ts";
import { openWorkerSession } from "./serving/worker-session.ts";

const ENDED_JOB_RETENTION_MS = 7 * 24 * 3600 * 1000;
const ENVIRONMENT_SWEEP_MS = 6 * 3600 * 1000;
const RETENTION_SWEEP_MS = 24 * 3600 * 1000;

export type RunningServer = {
  url: string;
  port: number;
  /** Set when this start generated the admin token (first start): shown once. */
  generatedAdminToken?: string;
  logger: Logger;
  repos: RepoStore;
  pipelines: PipelineService;
  pipelineStore: PipelineStore;
  /** Upload tokens of the artifact route: issue one per pipeline run elsewhere; every end of a pipeline revokes its token. */
  uploadTokens: UploadTokens;
  /**
   * Graceful stop: /health answers 503 "stopping" at once and workers claim nothing new (pushes, predictions and
   * the API are still served); running notebooks may finish for SHUTDOWN_GRACE_SECONDS, then are stopped (their
   * process trees killed) and their pipelines queued again for the next start (once); then live log streams end,
   * the HTTP server closes and the database too. Idempotent: later calls return the same promise.
   */
  stop(): Promise<void>;
  /** During stop()'s grace period: stop the running notebooks now instead of waiting. No-op otherwise. */
  hurry(): void;
  /** Have every worker pool look for due jobs now (after a test stepped the clock past a retry's delay). */
  wake(): void;
  /** The retention loop (RETENTION_DAYS): swept after start and daily; tests await or step it. */
  retention: Retention;
};

/**
 * Start everything for `config` and listen. Deployed models are loaded before the port opens. Throws if the port
 * cannot be bound, and ConfigError when NOTEBOOK_SANDBOX=bwrap and the sandbox cannot run. `bwrap` replaces the
 * bubblewrap executable found in PATH (tests use it to start where the sandbox cannot run). `endListeners` hear every
 * pipeline end from before start-up recovery on, like the commit statuses and MLflow do. `clock` is the job queue's
 * (retry delays, leases); tests step it.
 */
export async function startServer(
  config: Config,
  opts: { logger?: Logger; bwrap?: string; endListeners?: EndListener[]; clock?: Clock; environmentCache?: string } = {},
): Promise<RunningServer> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  // The data dir holds the database, the models and every pipeline's files: the server's user only (an older,
  // looser dir is tightened). Notebooks reach their own work dir through the sandbox's bind mount, not this path.
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  chmodSync(config.dataDir, 0o700);
  const nb = config.notebook;
  const sandbox = await NotebookSandbox.start({
    setting: nb.sandbox,
    executables: [config.papermill, config.python, config.environments.uv],
    privateDirs: [config.dataDir, dirname(config.databasePath)],
    limits: { dataBytes: nb.memoryMb * 1024 * 1024, processes: nb.maxProcesses, fileBytes: nb.maxFileMb * 1024 * 1024 },
    scratchDir: join(config.dataDir, "runtime"),
    bwrap: opts.bwrap,
  });
  if (!sandbox.status.active)
    logger.warn(
      { sandbox: sandbox.status.setting, problem: sandbox.status.problem },
      "NOTEBOOKS ARE NOT SANDBOXED: a pushed notebook can read this server's secrets and files",
    );
  const lifecycle: Lifecycle = { phase: "starting" };
  const db = openDatabase(config.databasePath);
  const applied = migrate(db);
  if (applied.length) logger.info({ applied }, "database migrated");
  const secrets = ensureSecrets(db, config);

  // The queue's clock decides when a retry is due; tests step it instead of waiting out the backoff.
  const jobs = new JobStore(db, opts.clock);
  const repos = new RepoStore(db);
  const pipelineStore = new PipelineStore(db);
  const bus = new LogBus(pipelineStore, { maxLineChars: nb.logLineMaxChars, maxOutputBytes: nb.logMaxBytes });
  const modelStore = new ModelStore(db);
  // Each model loads and runs in a worker thread of its own: a big load never holds up requests to other models.
  const registry = new ModelRegistry(openWorkerSession);
  const deployer = new Deployer(modelStore, registry, logger);
  // Serving replicas follow every deployment change through GET /api/replication/deployments.
  const deploymentsFeed = new DeploymentsFeed(db, logger);
  deploymentsFeed.follow(deployer);
  const mirror = new GitMirror(join(config.dataDir, "git"), { token: config.githubToken || undefined, tokenScope: gitTokenScope(config.githubApiUrl) });

  const ending = new PipelineEnding(pipelineStore, bus, logger);
  const uploadTokens = new UploadTokens(db);
  uploadTokens.revokeOnEnd(ending);
  const envSettings = config.environments;
  const environments = new PythonEnvironments({
    root: join(config.dataDir, "environments"),
    uv: envSettings.uv,
    python: config.python,
    allowSdist: envSettings.allowSdist,
    retentionDays: envSettings.retentionDays,
    buildTimeoutMs: envSettings.buildTimeoutSeconds * 1000,
    sandbox,
    maxLineChars: nb.logLineMaxChars,
    cacheDir: opts.environmentCache,
  });
  // At start and every few hours: environments unused for ENV_RETENTION_DAYS go (sweep() is what tests step).
  const sweepEnvironments = () => {
    try {
      const swept = environments.sweep();
      if (swept.length) logger.info({ environments: swept }, "unused environments removed");
    } catch (err) {
      logger.warn({ err }, "removing unused environments failed; tried again later");
    }
  };
  sweepEnvironments();
  const sweepTimer = setInterval(sweepEnvironments, ENVIRONMENT_SWEEP_MS);
  sweepTimer.unref();
  const rayClient = config.runnerBackend === "ray" ? new RayJobsClient({ address: config.ray.address, headers: config.ray.headers }) : undefined;
  const services: PipelineServices = {
    config,
    store: pipelineStore,
    bus,
    ending,
    models: modelStore,
    deployer,
    loadModel: openWorkerSession,
    findRepo: (id) => repos.find(id),
    async checkout(repo, sha, dest) {
      await mirror.fetch(repo.clone_url, repo.full_name, sha);
      await mirror.exportTree(repo.full_name, sha, dest);
    },
    // papermill prints the failing cell and its traceback to the log; the pipeline records the one-line reason
    runner:
      config.runnerBackend === "ray"
        ? new RayRunner({
            client: rayClient!,
            publicUrl: config.publicUrl,
            issueUploadToken: (id) => uploadTokens.issue(id),
            pendingTimeoutMs: config.ray.pendingTimeoutSeconds * 1000,
            lostAfterMs: config.ray.lostTimeoutSeconds * 1000,
            // The repository's runner_resources, under the notebook's own metadata (which wins per key).
            resourcesFor: (spec) => {
              const repoId = pipelineStore.find(spec.pipelineId)?.repoId;
              const repo = repoId == null ? undefined : repos.find(repoId);
              return resourcesFor(repo?.runner_resources, notebookResources(spec.notebook));
            },
          })
        : new LocalRunner({ papermill: config.papermill, environments, sandbox, network: nb.network, maxLineChars: nb.logLineMaxChars }),
    // With an environment of its own, the notebook's model is read by the python that pickled it.
    convertJoblib: ({ environment, ...o }) =>
      convertJoblib({
        python: environment?.local?.python ?? config.python,
        runtimeDir: join(config.dataDir, "runtime"),
        ...o,
        sandbox: withEnvironment(sandbox.prepare(o.workDir, o.pipelineId), environment),
      }),
  };

  let pools: WorkerPool[] = [];
  const wake = () => queueMicrotask(() => pools.forEach((p) => p.wake()));
  const signer = new VersionSigner(secrets.webhookSecret);
  const quickMlflow = config.mlflowTrackingUri ? new MlflowClient(config.mlflowTrackingUri, { timeoutMs: 5_000 }) : undefined;
  const mlflowSyncs = new MlflowSyncStore(db);
  const tracking = quickMlflow
    ? new MlflowTracking({
        client: new MlflowClient(config.mlflowTrackingUri, { timeoutMs: 120_000 }),
        quickClient: quickMlflow,
        syncs: mlflowSyncs,
        pipelines: pipelineStore,
        models: modelStore,
        jobs,
        dataDir: config.dataDir,
        signer,
        wake,
        logger,
      })
    : undefined;
  services.tracking = tracking;
  const statuses = config.githubToken
    ? new CommitStatuses({
        api: { url: config.githubApiUrl, token: config.githubToken },
        publicUrl: config.publicUrl,
        pipelines: pipelineStore,
        repos,
        jobs,
        config,
        servingVersion: (name) => modelStore.deployedVersion(name),
        wake,
        logger,
      })
    : undefined;
  services.statuses = statuses;
  // Every end of a pipeline, from wherever it comes (a run, a cancel, a newer push, start-up recovery), reaches these.
  if (tracking) ending.listen(({ id }) => tracking.ended(id));
  if (statuses) ending.listen(({ id }) => statuses.changed(id));
  for (const listener of opts.endListeners ?? []) ending.listen(listener);
  if (tracking) deployer.onChange((model) => tracking.deploymentChanged(model));
  const pipelines = new PipelineService(services, jobs, mirror, {
    findIntakeRepo: (id) => repos.find(id),
    notebooksToRun,
    noteDelivery: (id, detail, outcome) => noteDelivery(db, id, detail, outcome),
    wake,
    logger,
  });
  const interrupted = pipelines.recoverAtStart();
  if (interrupted.length) logger.warn({ pipelines: interrupted }, "pipelines interrupted by the previous stop were marked failed");
  const statusesResumed = statuses?.resumeInterrupted() ?? [];
  if (statusesResumed.length) logger.info({ pipelines: statusesResumed }, "GitHub commit statuses interrupted by the previous stop were queued again");
  const resumed = tracking?.resumePending() ?? [];
  if (resumed.length) logger.info({ pipelines: resumed }, "MLflow syncs left pending by the previous stop were queued again");
  // Ended jobs are kept a week (for looking into what happened), then deleted: at start and every hour.
  const pruneJobs = () => {
    try {
      const pruned = jobs.pruneEnded(ENDED_JOB_RETENTION_MS);
      if (pruned) logger.info({ pruned }, "deleted jobs that ended over a week ago");
    } catch (err) {
      logger.error({ err }, "could not prune ended jobs");
    }
  };
  pruneJobs();
  const pruneTimer = setInterval(pruneJobs, 3600_000);
  pruneTimer.unref();
  const handlers = pipelines.handlers();
  // Git intake has a pool of its own so a push is turned into queued pipelines even while notebooks fill every worker.
  pools = [
    new WorkerPool({ store: jobs, handlers: { [JobKind.push]: handlers.push }, concurrency: 1, onlyOwnKinds: true, logger }),
    new WorkerPool({ store: jobs, handlers: { [JobKind.pipeline]: handlers.pipeline }, concurrency: config.workerConcurrency, onlyOwnKinds: true, logger }),
  ];
  // MLflow syncs wait (backing off) while MLflow is down: a pool of their own keeps them from holding up notebooks.
  if (tracking) {
    const mlflowHandlers = {
      [MLFLOW_SYNC_JOB]: (job: Job) => tracking.sync(payloadPipelineId(job.payload, "MLflow sync")),
      [MLFLOW_ALIAS_JOB]: (job: Job) => tracking.syncAlias(String((job.payload as { model?: unknown } | null)?.model)),
    };
    pools.push(new WorkerPool({ store: jobs, handlers: mlflowHandlers, concurrency: 1, onlyOwnKinds: true, logger }));
  }
  // Commit statuses likewise wait out GitHub being down in a pool of their own; one worker keeps a pipeline's posts in order.
  if (statuses) {
    const statusHandlers = { [COMMIT_STATUS_JOB]: (job: Job) => statuses.post(payloadPipelineId(job.payload, "GitHub commit status")) };
    pools.push(new WorkerPool({ store: jobs, handlers: statusHandlers, concurrency: 1, onlyOwnKinds: true, logger }));
  }

  // A fresh node (no model stored) takes its deployed models from MLflow's registry before loading deployments.
  if (quickMlflow && modelStore.modelNames().length === 0) {
    const fromMlflow = await restoreFromMlflow({ client: quickMlflow, models: modelStore, dataDir: config.dataDir, signer, logger });
    if (fromMlflow.length) logger.info({ models: fromMlflow }, "deployed models restored from MLflow's registry");
  }
  const restored = await deployer.restoreAll();
  if (restored.restored.length) logger.info({ models: restored.restored }, "deployed models restored");

  const app = createApp({
    config,
    repos,
    secrets,
    pageSessions: new PageSessions(db, secrets.adminTokenSha256),
    version: VERSION,
    lifecycle,
    logger,
    sandbox: sandbox.status,
    modelsServing: () => registry.count(),
    queueDepth: () => jobs.depth(),
    deliveries: new Deliveries({
      db,
      repos,
      logger,
      acceptPush: ({ deliveryId, repo, payload }) =>
        pipelines.acceptPush({ deliveryId, repo, sha: payload.after, before: payload.created ? null : payload.before, ref: payload.ref }),
    }),
    runRepo: (repo) => pipelines.runRepo(repo),
    pipelineStore,
    pipelineCounts: () => pipelineStore.countByStatus(),
    databaseOk: () => databaseOk(db),
    bus,
    pipelineActions: pipelines,
    modelStore,
    deployer,
    registry,
    replicaTokens: new ReplicaTokens(db),
    deploymentsFeed,
    mlflowView: tracking && ((id) => tracking.view(id)),
    jobDashboard: rayClient && ((jobId) => rayClient.dashboardUrl(jobId)),
    mlflowSyncCounts: tracking && (() => tracking.syncCounts()),
    mlflowHealth: tracking && (() => mlflowSyncs.health()),
    commitStatusHealth: statuses && (() => commitStatusHealth(jobs)),
    artifactUploads: new ArtifactUploads({ tokens: uploadTokens, dataDir: config.dataDir, maxBytes: config.maxArtifactBytes }),
  });
  const http = listen({ port: config.port, host: config.host, fetch: app.fetch });
  for (const p of pools) p.start();
  lifecycle.phase = "ready";
  // After start and then daily: logs, work dirs and notebooks of pipelines that ended over RETENTION_DAYS ago go.
  const retention = new Retention({ db, dataDir: config.dataDir, days: config.retentionDays, logger });
  const sweepOld = () => void retention.sweep().catch((err) => logger.warn({ err }, "retention sweep failed; tried again tomorrow"));
  sweepOld();
  const retentionTimer = setInterval(sweepOld, RETENTION_SWEEP_MS);
  retentionTimer.unref();
  const { url } = http;
  logger.info({ url, version: VERSION, data_dir: config.dataDir, workers: config.workerConcurrency }, "mlops ready");

  let stopping: Promise<void> | undefined;
  return {
    url,
    port: http.port,
    generatedAdminToken: secrets.generatedAdminToken,
    logger,
    repos,
    pipelines,
    pipelineStore,
    uploadTokens,
    stop() {
      stopping ??= (async () => {
        lifecycle.phase = "stopping";
        clearInterval(pruneTimer);
        clearInterval(sweepTimer);
        clearInterval(retentionTimer);
        await retention.stop();
        const running = pools.reduce((n, p) => n + p.running(), 0);
        if (running) logger.info({ running, grace_seconds: config.shutdownGraceSeconds }, "stopping: running jobs may finish within the grace period");
        await Promise.all(pools.map((p) => p.stop({ graceMs: config.shutdownGraceSeconds * 1000 })));
        // Live log streams never end on their own; the HTTP server waits for open responses.
        bus.close();
        deploymentsFeed.close();
        await http.stop();
        await registry.close();
        db.$client.close();
      })();
      return stopping;
    },
    wake,
    retention,
    hurry() {
      for (const p of pools) p.hurry();
    },
  };
}

function payloadPipelineId(payload: unknown, what: string): number {
  const id = (payload as { pipelineId?: unknown } | null)?.pipelineId;
  if (typeof id !== "number") throw new Error(`a ${what} job without a pipeline id: ${JSON.stringify(payload)}`);
  return id;
}
