// GitHub commit statuses (GITHUB_TOKEN): each pipeline's state on its pushed commit, one status line per notebook
// (context `mlops/<notebook path>`): pending while it runs, then success, failure or error. Posted through the
// durable job queue, so GitHub being slow or down never holds up a pipeline and a state survives a restart.
import type { Logger } from "../lib/logger.ts";
import type { Config } from "../config.ts";
import { deployGate, gatePolicy, type GatePolicy } from "../pipeline/deploy-phase.ts";
import type { PipelineStatusListener } from "../pipeline/pipeline-context.ts";
import { FailureKind, type PipelineFailure } from "../pipeline/pipeline-failure.ts";
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
  repos: { find(id: number): { full_name: string; deploy_metric: string; deploy_threshold: number | null } | undefined };
  /** The deploy gate's settings, to say how a version fared against it. */
  config: Pick<Config, "minAccuracyThreshold" | "autoDeployOnSuccess">;
  /** The version of a model serving now, or null. */
  servingVersion(modelName: string): number | null;
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
    const { pipelines, repos, api, publicUrl, logger, config } = this.deps;
    const pipeline = pipelines.find(pipelineId);
    const repo = pipeline?.repoId != null ? repos.find(pipeline.repoId) : undefined;
    const [owner, name, ...rest] = repo?.full_name.split("/") ?? [];
    if (!pipeline || !owner || !name || rest.length > 0) return;
    const verdict = { policy: gatePolicy(repo!, config), servingVersion: (m: string) => this.deps.servingVersion(m) };
    const status = commitStatusOf(pipeline, pipelines.phases(pipelineId), publicUrl, verdict);
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

/** What says how a stored version fared at the deploy gate: the repository's gate, and what serves now. */
export type GateView = { policy: GatePolicy; servingVersion(modelName: string): number | null };

/**
 * A pipeline's commit status as it stands now (`phases` tell whether its version deployed; `gate`, when given, puts the
 * verdict and its number in the description, e.g. "accuracy 0.962 ≥ 0.70 · deployed v7").
 */
export function commitStatusOf(pipeline: PipelineRow, phases: PhaseRow[], publicUrl: string, gate?: GateView): CommitStatus {
  const { state, description } = stateOf(pipeline, phases, gate);
  return {
    state,
    ...(publicUrl && { target_url: `${publicUrl}/pipelines/${pipeline.id}` }),
    description: cut(description, DESCRIPTION_MAX_CHARS),
    context: `mlops/${pipeline.notebookPath}`,
  };
}

function stateOf(p: PipelineRow, phases: PhaseRow[], gate: GateView | undefined): Pick<CommitStatus, "state" | "description"> {
  const reason = p.error?.split("\n")[0] || p.status;
  switch (p.status) {
    case "queued":
    case "running":
      return { state: "pending", description: p.status };
    case "succeeded":
      return { state: "success", description: (gate && verdictOf(p, phases, gate)) ?? storedOrDeployed(p, phases) };
    case "failed":
      // Interrupted by a stop or a crash: nothing is wrong with the notebook.
      return { state: p.failure?.kind === FailureKind.interrupted ? "error" : "failure", description: failedIn(p.failure as PipelineFailure | null) ?? reason };
    default: // timed_out, cancelled, superseded
      return { state: "error", description: reason };
  }
}

/** "model v3 deployed" or "model v3 stored, not deployed: <reason>": a succeeded pipeline without the gate's numbers. */
function storedOrDeployed(p: PipelineRow, phases: PhaseRow[]): string {
  const model = p.modelName && p.modelVersion !== null ? `${p.modelName} v${p.modelVersion}` : "model";
  const deploy = phases.find((ph) => ph.name === "deploy");
  if (deploy?.status === "succeeded") return `${model} deployed`;
  return `${model} stored, not deployed${deploy?.error ? `: ${deploy.error}` : ""}`;
}

/**
 * "accuracy 0.962 ≥ 0.70 · deployed v7", "accuracy 0.41 < 0.70 · kept v6" (or "· none serving"), "accuracy 0.962 ≥ 0.70 ·
 * stored v7 (auto-deploy off)"; undefined when the pipeline stored no version or the gate as it stands now would not
 * have decided what was done (its settings changed since).
 */
function verdictOf(p: PipelineRow, phases: PhaseRow[], gate: GateView): string | undefined {
  if (!p.modelName || p.modelVersion === null) return undefined;
  const metrics = parseMetrics(p.metrics);
  const { metric, threshold } = gate.policy;
  const value = metrics[metric];
  const check =
    value === undefined ? `${metric} not reported` : `${metric} ${significant(value, threshold)} ${value < threshold ? "<" : "≥"} ${thresholdText(threshold)}`;
  const deployed = phases.find((ph) => ph.name === "deploy")?.status === "succeeded";
  const decision = deployGate(metrics, gate.policy);
  if (deployed) return decision.deploy ? `${check} · deployed v${p.modelVersion}` : undefined;
  if (decision.deploy) return undefined;
  if (!decision.rejected) return `${check} · stored v${p.modelVersion} (auto-deploy off)`;
  const serving = gate.servingVersion(p.modelName);
  return `${check} · ${serving === null ? "none serving" : `kept v${serving}`}`;
}

/** "failed in execute: cell 4 [mlops:training] raised ValueError: …", from the failure stored as data; undefined without a phase. */
function failedIn(f: PipelineFailure | null): string | undefined {
  if (!f?.phase) return undefined;
  if (!f.cell) return `failed in ${f.phase}: ${f.message.split("\n")[0]}`;
  const tags = f.cell.tags.length > 0 ? ` [${f.cell.tags.join(", ")}]` : "";
  // Cells counted from 1 in the notebook as pushed, as the pages number them.
  return `failed in ${f.phase}: cell ${f.cell.index + 1}${tags} raised ${f.cell.exception}`;
}

const parseMetrics = (json: string | null): Record<string, number> => {
  try {
    const m = JSON.parse(json ?? "{}") as unknown;
    return typeof m === "object" && m !== null ? (m as Record<string, number>) : {};
  } catch {
    return {};
  }
};

/**
 * `value` to three significant digits ("0.962", "0.41", "1230"), with more when three would put it on the other side
 * of `threshold` than it is (0.6996 against 0.70 reads "0.6996", not "0.7").
 */
export function significant(value: number, threshold: number): string {
  for (let digits = 3; digits <= 12; digits++) {
    const shown = Number(value.toPrecision(digits));
    if (shown < threshold === value < threshold) return String(shown);
  }
  return String(value);
}

/** A threshold with at least two decimals when it has any ("0.70", "0.925"), whole numbers as they are ("5"). */
export function thresholdText(threshold: number): string {
  if (Number.isInteger(threshold)) return String(threshold);
  const decimals = String(threshold).split(".")[1]?.length ?? 0;
  return decimals < 2 && !String(threshold).includes("e") ? threshold.toFixed(2) : String(threshold);
}

/** `text` on one line, at most `max` characters (code points), cut with "…". */
export function cut(text: string, max: number): string {
  const chars = [...text.replace(/\s+/g, " ").trim()];
  return chars.length <= max ? chars.join("") : `${chars.slice(0, max - 1).join("")}…`;
}
