// MLflow tracking (MLFLOW_TRACKING_URI): a run per pipeline, made before the notebook runs so it can log into it;
// once the pipeline ended, its params, metrics, artifacts and model version go to MLflow through a durable job.
// Each step is recorded as it completes (mlflow_sync), so a sync cut off by MLflow going down or by a crash
// resumes where it stopped; while MLflow is down the pipeline completes locally and its sync shows as pending.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { containedFileSize } from "../lib/contained-file.ts";
import { errorLine, TransientError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import type { ModelStore } from "../models/model-store.ts";
import type { PipelineTracking } from "../pipeline/pipeline-context.ts";
import { isTerminalStatus, TERMINAL_STATUSES } from "../pipeline/pipeline-states.ts";
import type { PipelineRow, PipelineStore } from "../pipeline/pipeline-store.ts";
import { pipelineDir } from "../pipeline/run-pipeline.ts";
import { isTerminalJobState } from "../queue/job-states.ts";
import type { JobStore } from "../queue/job-store.ts";
import type { MlflowClient } from "./mlflow-client.ts";
import { DEPLOYED_ALIAS, MODEL_ARTIFACT, VERSION_TAG } from "./mlflow-restore.ts";
import type { MlflowSyncRow, MlflowSyncStore } from "./mlflow-sync-store.ts";
import { SHA256_TAG, SIGNATURE_TAG, type VersionSigner } from "./model-signature.ts";

/** The job kind of a pipeline's sync to MLflow. */
export const MLFLOW_SYNC_JOB = "mlflow-sync";
/** The job kind that moves a model's "deployed" alias in MLflow after its deployment changed here. */
export const MLFLOW_ALIAS_JOB = "mlflow-alias";
/** Retries back off to one a minute (the queue's cap): this many attempts keep trying for about 16 hours. */
const MAX_ATTEMPTS = 1000;
/** Largest executed notebook or metrics file uploaded (they are read whole into memory). */
const MAX_NOTEBOOK_ARTIFACT_BYTES = 512 * 1024 * 1024;

export type MlflowTrackingDeps = {
  /** For the background sync: its timeout allows uploading a large model. */
  client: MlflowClient;
  /** For what a running pipeline waits on (its run, its logged metrics): a short timeout, so MLflow being slow or gone costs seconds. */
  quickClient?: MlflowClient;
  syncs: MlflowSyncStore;
  pipelines: PipelineStore;
  models: ModelStore;
  jobs: JobStore;
  dataDir: string;
  /** Signs the model versions registered in MLflow, so a fresh node restores only what a node of this deployment made. */
  signer: VersionSigner;
  /** Called after a sync job is queued, so a worker takes it at once. */
  wake?: () => void;
  logger?: Logger;
};

/** How a pipeline stands with MLflow, for the API and the pages. */
export type MlflowSyncView = {
  status: MlflowSyncRow["status"];
  run_id: string | null;
  run_url: string | null;
  model_version: string | null;
  attempts: number;
  error: string | null;
};

export class MlflowTracking implements PipelineTracking {
  constructor(private readonly deps: MlflowTrackingDeps) {}

  async startRun(pipeline: PipelineRow, modelName: string, log: (line: string) => void): Promise<string | undefined> {
    const { syncs } = this.deps;
    const client = this.quick;
    const row = syncs.ensure(pipeline.id);
    if (row.runId) return row.runId;
    try {
      const run = await this.createRun(client, pipeline, modelName);
      log(`MLflow run ${run.runId}: ${client.runUrl(run)}`);
      return run.runId;
    } catch (e) {
      log(`MLflow cannot take the run now (${errorLine(e)}); the notebook runs without MLFLOW_RUN_ID and the run is recorded once MLflow answers`);
      return undefined;
    }
  }

  async loggedMetrics(pipelineId: number, log: (line: string) => void): Promise<Record<string, number>> {
    const runId = this.deps.syncs.find(pipelineId)?.runId;
    if (!runId) return {};
    try {
      return (await this.quick.getRun(runId)).metrics;
    } catch (e) {
      log(`could not read the metrics the notebook logged to MLflow (${errorLine(e)}); using the metrics file alone`);
      return {};
    }
  }

  ended(pipelineId: number): void {
    try {
      this.deps.syncs.ensure(pipelineId);
      this.queue(pipelineId);
    } catch (e) {
      this.deps.logger?.error({ err: e, pipeline: pipelineId }, "could not queue the MLflow sync of a pipeline");
    }
  }

  /** The job handler: sync pipeline `pipelineId`. Throws TransientError while MLflow cannot be reached (the queue retries). */
  async sync(pipelineId: number): Promise<void> {
    const { syncs, pipelines } = this.deps;
    const pipeline = pipelines.get(pipelineId);
    if (!isTerminalStatus(pipeline.status)) throw new TransientError(`pipeline ${pipelineId} has not ended yet`);
    const row = syncs.ensure(pipelineId);
    if (row.status === "synced") return;
    try {
      await this.syncSteps(pipeline, row);
      syncs.attempt(pipelineId, "synced", null);
    } catch (e) {
      syncs.attempt(pipelineId, e instanceof TransientError ? "pending" : "failed", errorLine(e));
      throw e;
    }
  }

  /** A deployment of `modelName` changed here (deploy, rollback, undeploy): queue moving MLflow's "deployed" alias. Never throws. */
  deploymentChanged(modelName: string): void {
    try {
      // Only the newest state matters: a newer change supersedes a queued older one.
      this.deps.jobs.enqueue({
        kind: MLFLOW_ALIAS_JOB,
        payload: { model: modelName },
        dedupeKey: `mlflow-alias:${modelName}`,
        supersede: true,
        maxAttempts: MAX_ATTEMPTS,
      });
      this.deps.wake?.();
    } catch (e) {
      this.deps.logger?.error({ err: e, model: modelName }, "could not queue the MLflow alias update of a model");
    }
  }

  /**
   * The alias job: point "deployed" at the MLflow version of what serves here, or remove it when nothing does. A version
   * not in MLflow yet is left to its pipeline's sync, which sets the alias when it registers a version that is deployed.
   */
  async syncAlias(modelName: string): Promise<void> {
    const { client, models, signer } = this.deps;
    const deployed = models.deployedVersion(modelName);
    if (deployed === null) return client.deleteAlias(modelName, DEPLOYED_ALIAS);
    // Only a version this deployment signed for this very file: a notebook may have registered look-alikes.
    const sha256 = models.get(modelName, deployed).sha256;
    const mv = (await client.searchModelVersions(modelName)).find((v) => {
      const signed = signer.verifiedTags(modelName, v.tags, VERSION_TAG);
      return signed?.version === deployed && signed.sha256 === sha256;
    });
    if (mv) await client.setAlias(modelName, DEPLOYED_ALIAS, mv.version);
  }

  /** Start-up: queue the sync of every ended pipeline still pending without a job waiting for it (a crash came in between). */
  resumePending(): number[] {
    const queued: number[] = [];
    for (const row of this.deps.syncs.pending()) {
      const status = this.deps.pipelines.get(row.pipelineId).status;
      if (!TERMINAL_STATUSES.includes(status)) continue; // still running: it queues its sync when it ends
      const job = this.deps.jobs.findByPayload(MLFLOW_SYNC_JOB, "$.pipelineId", row.pipelineId);
      if (job && !isTerminalJobState(job.state)) continue;
      this.queue(row.pipelineId);
      queued.push(row.pipelineId);
    }
    return queued;
  }

  /** Pipelines' syncs by status, for /metrics. */
  syncCounts(): Record<string, number> {
    return this.deps.syncs.counts();
  }

  /** The API's and pages' view of a pipeline's sync, or null when it was never tracked. */
  view(pipelineId: number): MlflowSyncView | null {
    const row = this.deps.syncs.find(pipelineId);
    if (!row) return null;
    const runUrl = row.runId && row.experimentId ? this.deps.client.runUrl({ runId: row.runId, experimentId: row.experimentId }) : null;
    return { status: row.status, run_id: row.runId, run_url: runUrl, model_version: row.modelVersion, attempts: row.attempts, error: row.lastError };
  }

  private queue(pipelineId: number): void {
    this.deps.jobs.enqueue({ kind: MLFLOW_SYNC_JOB, payload: { pipelineId }, dedupeKey: `mlflow:${pipelineId}`, maxAttempts: MAX_ATTEMPTS });
    this.deps.wake?.();
  }

  private get quick(): MlflowClient {
    return this.deps.quickClient ?? this.deps.client;
  }

  private async createRun(client: MlflowClient, pipeline: PipelineRow, experiment: string) {
    const { syncs } = this.deps;
    const experimentId = await client.getOrCreateExperiment(experiment);
    const run = await client.createRun(experimentId, {
      runName: `pipeline-${pipeline.id}`,
      startTime: pipeline.startedAt ? Date.parse(pipeline.startedAt) : Date.now(),
      tags: { "mlops.pipeline_id": String(pipeline.id), "mlops.commit": pipeline.commitSha, "mlops.notebook": pipeline.notebookPath },
    });
    syncs.progress(pipeline.id, { experimentId, runId: run.runId, artifactUri: run.artifactUri });
    return run;
  }

  private async syncSteps(pipeline: PipelineRow, row: MlflowSyncRow): Promise<void> {
    const { client, syncs, models } = this.deps;
    const id = pipeline.id;
    let run = row.runId && row.artifactUri && row.experimentId ? { runId: row.runId, artifactUri: row.artifactUri, experimentId: row.experimentId } : undefined;
    run ??= await this.createRun(client, pipeline, pipeline.modelName ?? pipeline.notebookPath);
    const version = pipeline.modelName && pipeline.modelVersion !== null ? models.get(pipeline.modelName, pipeline.modelVersion) : undefined;
    const endedAt = pipeline.finishedAt ? Date.parse(pipeline.finishedAt) : Date.now();

    if (!row.logged) {
      const metrics = pipeline.metrics ? (JSON.parse(pipeline.metrics) as Record<string, number>) : {};
      await client.logBatch(run.runId, {
        params: { pipeline_id: String(id), commit: pipeline.commitSha, ref: pipeline.ref, notebook_path: pipeline.notebookPath, trigger: pipeline.trigger },
        metrics: Object.entries(metrics).map(([key, value]) => ({ key, value, timestamp: endedAt, step: 0 })),
        tags: {
          "mlops.status": pipeline.status,
          ...(pipeline.error && { "mlops.error": pipeline.error.slice(0, 4000) }),
          ...(version && { "mlops.model_version": String(version.version), "mlops.version_status": version.status }),
        },
      });
      syncs.progress(id, { logged: true });
    }
    if (!row.artifacts) {
      const dir = pipelineDir(this.deps.dataDir, id);
      // The notebook wrote these: only plain files inside its work dir are read (a symlink could name the database).
      const fromNotebook: [string, string][] = [
        [join(dir, "executed.ipynb"), "notebook/executed.ipynb"],
        [join(dir, "output", "metrics.json"), "metrics.json"],
      ];
      const files = fromNotebook.filter(([file]) => {
        if (!existsSync(file)) return false;
        try {
          containedFileSize(file, dir, MAX_NOTEBOOK_ARTIFACT_BYTES);
          return true;
        } catch (err) {
          this.deps.logger?.warn({ pipeline: id, file, err: errorLine(err) }, "not uploaded to MLflow");
          return false;
        }
      });
      if (version) files.push([version.path, MODEL_ARTIFACT]);
      for (const [file, path] of files) await client.uploadArtifact(run, path, readFileSync(file));
      syncs.progress(id, { artifacts: true });
    }
    let mlflowVersion = row.modelVersion;
    if (version && !mlflowVersion) {
      await client.ensureRegisteredModel(version.modelName);
      const mv = await client.createModelVersion(version.modelName, {
        source: `${run.artifactUri}/model`,
        runId: run.runId,
        tags: {
          [VERSION_TAG]: String(version.version),
          "mlops.pipeline_id": String(id),
          [SHA256_TAG]: version.sha256,
          [SIGNATURE_TAG]: this.deps.signer.sign({ name: version.modelName, version: version.version, sha256: version.sha256 }),
        },
      });
      syncs.progress(id, { modelVersion: mv.version });
      mlflowVersion = mv.version;
    }
    // Deployed here before MLflow had it: the alias job found nothing to point at, so the alias is set now.
    if (version && mlflowVersion && models.deployedVersion(version.modelName) === version.version) {
      await client.setAlias(version.modelName, DEPLOYED_ALIAS, mlflowVersion);
    }
    await client.endRun(run.runId, runStatus(pipeline.status), endedAt);
  }
}

function runStatus(status: string): "FINISHED" | "FAILED" | "KILLED" {
  if (status === "succeeded") return "FINISHED";
  return status === "cancelled" || status === "superseded" ? "KILLED" : "FAILED";
}
