// The JSON shape of a pipeline in the API (and the data pages render).
import type { PhaseRow, PipelineRow, PipelineStore } from "./pipeline-store.ts";

export type PipelineJson = ReturnType<typeof pipelineJson>;

const durationMs = (start: string | null, end: string | null) => (start && end ? Date.parse(end) - Date.parse(start) : null);

/** A pipeline row and its phases as API JSON. */
export function pipelineJson(p: PipelineRow, phases?: PhaseRow[]) {
  return {
    id: p.id,
    repo_id: p.repoId,
    delivery_id: p.deliveryId,
    trigger: p.trigger,
    ref: p.ref,
    commit: p.commitSha,
    before: p.beforeSha,
    notebook_path: p.notebookPath,
    model_name: p.modelName,
    status: p.status,
    error: p.error,
    /** Why it did not succeed, as data (src/pipeline/pipeline-failure.ts); null while it runs and when it succeeded. */
    failure: p.failure,
    /** Why a queued pipeline waits (its runner cannot take it now, e.g. "waiting for Ray at …") and since when; else null. */
    waiting: p.status === "queued" && p.waitingReason ? { reason: p.waitingReason, since: p.waitingSince } : null,
    metrics: p.metrics ? (JSON.parse(p.metrics) as Record<string, number>) : null,
    model_version: p.modelVersion,
    retry_of: p.retryOf,
    created_at: p.createdAt,
    started_at: p.startedAt,
    finished_at: p.finishedAt,
    duration_ms: durationMs(p.startedAt, p.finishedAt),
    /** When retention (RETENTION_DAYS) removed its log and work dir; null while they are kept. */
    files_removed_at: p.filesRemovedAt,
    ...(phases && {
      phases: phases.map((ph) => ({
        name: ph.name,
        status: ph.status,
        started_at: ph.startedAt,
        finished_at: ph.finishedAt,
        duration_ms: durationMs(ph.startedAt, ph.finishedAt),
        error: ph.error,
      })),
    }),
  };
}

/** What the pipeline read model needs besides the store: a repository's name, and how the pipeline stands with MLflow. */
export type PipelineViewDeps<M> = {
  store: PipelineStore;
  repoName?: (repoId: number) => string | undefined;
  mlflowView?: (pipelineId: number) => M | null;
  /** The cluster's page of a job (Ray's dashboard), when notebooks run on one. */
  jobDashboard?: (jobId: string) => string;
};

/** Where a pipeline's notebook ran, read from its stored runner handle (`local:…`, or a Ray submission id). */
export function runnerView(row: PipelineRow, jobDashboard?: (jobId: string) => string) {
  const handle = row.runnerHandle;
  if (!handle) return null;
  if (!handle.startsWith("mlops-")) return { backend: "local", job_id: null, node_id: null, dashboard_url: null };
  return { backend: "ray", job_id: handle, node_id: row.runnerNode, dashboard_url: jobDashboard?.(handle) ?? null };
}

/**
 * One pipeline as the API answers it and its page shows it: the row, its phases, its repository's name (absent once
 * the repository was removed) and `mlflow` (null when MLflow tracking is off or the pipeline never reached it).
 * Throws NotFoundError for an unknown id.
 */
export function pipelineDetail<M>(deps: PipelineViewDeps<M>, id: number) {
  const row = deps.store.get(id);
  return {
    ...pipelineJson(row, deps.store.phases(id)),
    repo_name: row.repoId === null ? undefined : deps.repoName?.(row.repoId),
    mlflow: deps.mlflowView?.(id) ?? null,
    runner: runnerView(row, deps.jobDashboard),
  };
}
