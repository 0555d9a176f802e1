// GitHub commit statuses (GITHUB_TOKEN): each pipeline's state on its pushed commit, one status line per notebook
// (context `mlops/<notebook path>`): pending while it runs, then success, failure or error. Posted through the
// durable job queue, so GitHub being slow or down never holds up a pipeline and a state survives a restart.
import type { Logger } from "../lib/logger.ts";
import type { PipelineStatusListener } from "../pipeline/pipeline-context.ts";
import { FailureKind } from "../pipeline/pipeline-failure.ts";
import type { PhaseRow, PipelineRow, PipelineStore } from "../pipeline/pipeline-store.ts";
import type { JobStore } from "../queue/job-store.ts";
import { JobFailureKind } from "../queue/job-states.ts";
import { GitHubRequestError, postCommitStatus, type CommitStatus, type GitHubApi } from "./github-api.ts";

/** The job kind that posts a pipeline's commit status. */
export const COMMIT_STATUS_JOB = "github-status";
/** Retries back off 1 s, 2 s, 4 s … then once a minute: 40 attempts ride out about half an hour of GitHub trouble. */
const MAX_ATTEMPTS = 40;
/** GitHub refuses longer descriptions. */
export const DESCRIPTION_MAX_CHARS = 140;

export type CommitStatusDeps = {
  api: GitHubApi;
  /** PUBLIC_URL without trailing slash; "" = statuses carry no link. */
  publicUrl: string;
  pipelines: PipelineStore;
  repos: { find(id: number): { full_name: string } | undefined };
  jobs: JobStore;
  /** Called after a job is queued, so a worker takes it at once. */
  wake?: () => void;
  logger?: Logger;
};

export class CommitStatuses implements PipelineStatusListener {
  constructor(private readonly deps: CommitStatusDeps) {}

  changed(pipelineId: number): void {
    try {
      // A job posts the pipeline's state as it is when the job runs, not when it was queued: replacing a queued
      // older job loses nothing, and whichever job runs last (one worker) posts the newest state.
      this.deps.jobs.enqueue({
        kind: COMMIT_STATUS_JOB,
        payload: { pipelineId },
        dedupeKey: `github-status:${pipelineId}`,
        supersede: true,
        maxAttempts: MAX_ATTEMPTS,
      });
      this.deps.wake?.();
    } catch (e) {
      this.deps.logger?.error({ err: e, pipeline: pipelineId }, "could not queue the GitHub commit status of a pipeline");
    }
  }

  /**
   * The job handler: post pipeline `pipelineId`'s current state on its commit. Skips pipelines gone or without a
   * repository named owner/name. Throws TransientError when worth retrying; GitHubRequestError (logged) when not.
   */
  async post(pipelineId: number): Promise<void> {
    const { pipelines, repos, api, publicUrl, logger } = this.deps;
    const pipeline = pipelines.find(pipelineId);
    const repo = pipeline?.repoId != null ? repos.find(pipeline.repoId) : undefined;
    const [owner, name, ...rest] = repo?.full_name.split("/") ?? [];
    if (!pipeline || !owner || !name || rest.length > 0) return;
    const status = commitStatusOf(pipeline, pipelines.phases(pipelineId), publicUrl);
    try {
      await postCommitStatus(api, owner, name, pipeline.commitSha, status);
    } catch (e) {
      // Not retried: the same request would be refused again (bad token, repository not visible to it).
      if (e instanceof GitHubRequestError) logger?.warn({ pipeline: pipelineId, repo: repo!.full_name, status: e.status }, e.message);
      throw e;
    }
  }

  /**
   * Start-up, after the queue's crash recovery: queue again the statuses whose last job was interrupted (by a crash,
   * or by a stop during a failing attempt), so a final state is not lost. Returns the pipeline ids.
   */
  resumeInterrupted(): number[] {
    const { jobs } = this.deps;
    const resumed: number[] = [];
    for (const job of jobs.list({ kind: COMMIT_STATUS_JOB, state: "failed" })) {
      const pipelineId = (job.payload as { pipelineId?: unknown } | null)?.pipelineId;
      // Cut off by crash recovery at start or by the worker pool's stop: read as data, not from the message.
      if (job.failureKind !== JobFailureKind.interrupted || typeof pipelineId !== "number") continue;
      if (jobs.findByPayload(COMMIT_STATUS_JOB, "$.pipelineId", pipelineId)?.id !== job.id) continue;
      this.changed(pipelineId);
      resumed.push(pipelineId);
    }
    return resumed;
  }
}

/** A pipeline's commit status as it stands now (`phases` tell whether its version deployed). */
export function commitStatusOf(pipeline: PipelineRow, phases: PhaseRow[], publicUrl: string): CommitStatus {
  const { state, description } = stateOf(pipeline, phases);
  return {
    state,
    ...(publicUrl && { target_url: `${publicUrl}/pipelines/${pipeline.id}` }),
    description: cut(description, DESCRIPTION_MAX_CHARS),
    context: `mlops/${pipeline.notebookPath}`,
  };
}

function stateOf(p: PipelineRow, phases: PhaseRow[]): Pick<CommitStatus, "state" | "description"> {
  const reason = p.error?.split("\n")[0] || p.status;
  switch (p.status) {
    case "queued":
    case "running":
      return { state: "pending", description: p.status };
    case "succeeded": {
      const model = p.modelName && p.modelVersion !== null ? `${p.modelName} v${p.modelVersion}` : "model";
      const deploy = phases.find((ph) => ph.name === "deploy");
      if (deploy?.status === "succeeded") return { state: "success", description: `${model} deployed` };
      return { state: "success", description: `${model} stored, not deployed${deploy?.error ? `: ${deploy.error}` : ""}` };
    }
    case "failed":
      // Interrupted by a stop or a crash: nothing is wrong with the notebook.
      return { state: p.failure?.kind === FailureKind.interrupted ? "error" : "failure", description: reason };
    default: // timed_out, cancelled, superseded
      return { state: "error", description: reason };
  }
}

/** `text` on one line, at most `max` characters (code points), cut with "…". */
export function cut(text: string, max: number): string {
  const chars = [...text.replace(/\s+/g, " ").trim()];
  return chars.length <= max ? chars.join("") : `${chars.slice(0, max - 1).join("")}…`;
}
