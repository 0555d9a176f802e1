// Turns pushes into pipelines and runs them through the queue: intake, job handlers, cancel, retry, crash recovery.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { ConflictError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import { killRecorded } from "../lib/process-tree.ts";
import type { JobStore } from "../queue/job-store.ts";
import { JobState, type Job } from "../queue/job-states.ts";
import { isPipelineNotebook } from "./notebook-contract.ts";
import type { PipelineServices, RepoInfo } from "./pipeline-context.ts";
import { failure, FailureKind } from "./pipeline-failure.ts";
import { INTERRUPTED, isTerminalStatus } from "./pipeline-states.ts";
import { pipelineDir, runPipeline } from "./run-pipeline.ts";

/** What intake needs of the git mirror (GitMirror implements it). */
export interface RepoSource {
  fetch(cloneUrl: string, fullName: string, sha: string): Promise<void>;
  /** Fetch the branch's current head (with its history) from the clone URL; returns its sha. */
  fetchBranchHead(cloneUrl: string, fullName: string, branch: string): Promise<string>;
  /** Whether `ancestor` is `descendant` or one of its ancestors; false when `ancestor` was never fetched. */
  isAncestor(fullName: string, ancestor: string, descendant: string): Promise<boolean>;
  changedFiles(fullName: string, before: string, after: string): Promise<string[] | "all">;
  listFiles(fullName: string, sha: string): Promise<string[]>;
  readFile(fullName: string, sha: string, path: string): Promise<Uint8Array>;
  resolve(cloneUrl: string, fullName: string, branch: string): Promise<string>;
}

export type IntakeRepo = RepoInfo & { branch: string; notebook_glob: string };

export type PushRequest = { repo: IntakeRepo; sha: string; before: string | null; ref: string; deliveryId: string | null; trigger: "push" | "manual" };
/**
 * What an intake did. `commit` is where its pipelines run (a push behind the branch head runs at the head);
 * `refused` says why a push ran nothing because its commit is not on the registered branch.
 */
export type IntakeResult = {
  pipelines: { id: number; notebook_path: string }[];
  skipped: { path: string; reason: string }[];
  superseded: number[];
  commit?: string;
  refused?: string;
};

export const JobKind = { push: "push", pipeline: "pipeline" } as const;

// `resumed`: the intake was interrupted by a stop and queued again at start (only once).
const pushPayload = z.object({
  deliveryId: z.string().nullable(),
  repoId: z.number(),
  sha: z.string(),
  before: z.string().nullable(),
  ref: z.string(),
  resumed: z.boolean().optional(),
});
// `resume`: follow again the run a stopped server left going (a runner whose runs outlive the server).
const pipelinePayload = z.object({ pipelineId: z.number(), resume: z.boolean().optional() });

export { INTERRUPTED };

/** Pipelines from pushes, through the durable queue. */
export class PipelineService {
  constructor(
    private readonly services: PipelineServices,
    private readonly jobs: JobStore,
    private readonly source: RepoSource,
    private readonly deps: {
      findIntakeRepo(id: number): IntakeRepo | undefined;
      notebooksToRun(changed: string[] | "all", all: string[], glob: string): string[];
      /** Record what a delivery led to (shown to operators); `refused` also changes the delivery's outcome. */
      noteDelivery?(deliveryId: string, detail: string, outcome?: "refused"): void;
      /** Called after enqueueing so workers pick the job up at once. */
      wake?(): void;
      logger?: Logger;
    },
  ) {}

  /** Queue the background intake of an accepted push (git fetch, notebook discovery); no git work here. */
  acceptPush(p: { deliveryId: string; repo: { id: number }; sha: string; before: string | null; ref: string }): { queued: true; job_id: number } {
    const { job } = this.jobs.enqueue({
      kind: JobKind.push,
      payload: { deliveryId: p.deliveryId, repoId: p.repo.id, sha: p.sha, before: p.before, ref: p.ref },
      maxAttempts: 4,
    });
    this.deps.wake?.();
    return { queued: true, job_id: job.id };
  }

  /** Run every tagged notebook of the repository's branch head now (manual run); fetches in the request. */
  async runRepo(repo: IntakeRepo): Promise<IntakeResult> {
    const sha = await this.source.resolve(repo.clone_url, repo.full_name, repo.branch);
    return this.intake({ repo, sha, before: null, ref: `refs/heads/${repo.branch}`, deliveryId: null, trigger: "manual" });
  }

  /**
   * Find changed notebooks under the glob and queue one pipeline per tagged notebook; a newer push of the same
   * notebook supersedes a queued older one. A push (trigger "push") never runs its own commit blindly: the
   * registered branch's head is fetched from the clone URL, and
   * - a commit that is neither the head nor an ancestor of it (another branch, a pull request's head, a commit
   *   force-pushed away, or none at all) runs nothing: the result and the delivery say `refused`, naming the head;
   * - otherwise the notebooks changed between `before` and the pushed commit run at the head, skipping those that
   *   already have a pipeline there (any status but cancelled): a replayed or overtaken push never runs older code,
   *   and two quick pushes lose no change and run nothing twice.
   * A manual run passes the head it resolved and runs every tagged notebook there. Throws TransientError for git
   * failures worth retrying, GitCommandError for others (e.g. the branch no longer exists).
   */
  async intake(req: PushRequest): Promise<IntakeResult> {
    const { repo } = req;
    let sha = req.sha;
    if (req.trigger === "push") {
      const head = await this.source.fetchBranchHead(repo.clone_url, repo.full_name, repo.branch);
      if (!(await this.source.isAncestor(repo.full_name, req.sha, head))) {
        const refused = `refused: commit ${req.sha} is not on branch ${repo.branch} (its head is ${head}); nothing runs`;
        if (req.deliveryId) this.deps.noteDelivery?.(req.deliveryId, refused, "refused");
        this.deps.logger?.warn(
          { delivery: req.deliveryId, repo: repo.full_name, commit: req.sha, head },
          "push refused: its commit is not on the registered branch",
        );
        return { pipelines: [], skipped: [], superseded: [], refused };
      }
      sha = head;
    } else {
      await this.source.fetch(repo.clone_url, repo.full_name, sha);
    }
    // What changed is what the push carried (before → its commit); what runs is the tree at `sha`.
    const changed = req.before ? await this.source.changedFiles(repo.full_name, req.before, req.sha) : "all";
    const all = await this.source.listFiles(repo.full_name, sha);
    const result: IntakeResult = { pipelines: [], skipped: [], superseded: [], commit: sha };
    for (const path of this.deps.notebooksToRun(changed, all, repo.notebook_glob)) {
      const bytes = await this.source.readFile(repo.full_name, sha, path);
      if (!isPipelineNotebook(bytes)) {
        result.skipped.push({ path, reason: "no mlops:* cell tags" });
        continue;
      }
      // No await from here to create(): intake runs on one worker, so this check and the insert cannot interleave with another push's.
      const existing = req.deliveryId ? this.services.store.findByDelivery(req.deliveryId, path) : undefined;
      if (existing) {
        // The same delivery again (intake resumed after a crash, or retried after a transient error): keep the
        // pipeline made the first time, and give it its job if the interruption came between the two.
        if (existing.status === "queued" && !this.jobFor(existing.id)) result.superseded.push(...this.enqueuePipeline(existing.id, repo.id, path));
        result.pipelines.push({ id: existing.id, notebook_path: path });
        continue;
      }
      const already = req.trigger === "push" ? this.services.store.findAtCommit(repo.id, sha, path) : undefined;
      if (already) {
        result.skipped.push({ path, reason: `pipeline ${already.id} already runs it at ${sha.slice(0, 12)} (${already.status})` });
        continue;
      }
      const p = this.services.store.create({
        repoId: repo.id,
        deliveryId: req.deliveryId,
        trigger: req.trigger,
        ref: req.ref,
        commitSha: sha,
        beforeSha: req.before,
        notebookPath: path,
      });
      result.pipelines.push({ id: p.id, notebook_path: path });
      result.superseded.push(...this.enqueuePipeline(p.id, repo.id, path));
    }
    if (req.deliveryId) this.deps.noteDelivery?.(req.deliveryId, describe(result, req.sha, repo.branch));
    this.deps.wake?.();
    return result;
  }

  /** Cancel a queued or running pipeline. Throws NotFoundError / ConflictError (already ended). */
  async cancel(id: number): Promise<void> {
    const p = this.services.store.get(id);
    if (isTerminalStatus(p.status)) throw new ConflictError(`pipeline ${id} already ended (${p.status})`);
    const job = this.jobFor(id);
    if (job) this.jobs.cancel(job.id);
    // A queued pipeline has no handler to record the end; a running one is finished by its handler as it stops.
    const { ending } = this.services;
    if (p.status === "queued") ending.end(id, "cancelled", failure(null, FailureKind.cancelled, "cancelled before it started"));
    if (p.status === "running" && !job) ending.end(id, "cancelled", failure(this.services.store.runningPhase(id), FailureKind.cancelled, "cancelled"));
  }

  /** Queue a new pipeline for the same commit and notebook; returns its id. Throws ConflictError while the original still runs. */
  async retry(id: number): Promise<number> {
    const p = this.services.store.get(id);
    if (!isTerminalStatus(p.status)) throw new ConflictError(`pipeline ${id} has not ended yet (${p.status})`);
    if (p.repoId === null) throw new ConflictError(`pipeline ${id}'s repository was removed`);
    const n = this.services.store.create({
      repoId: p.repoId,
      trigger: "retry",
      ref: p.ref,
      commitSha: p.commitSha,
      beforeSha: p.beforeSha,
      notebookPath: p.notebookPath,
      modelName: p.modelName,
      retryOf: p.id,
    });
    this.enqueuePipeline(n.id, p.repoId, p.notebookPath);
    this.deps.wake?.();
    return n.id;
  }

  /**
   * Start-up recovery: jobs left running by a dead process fail as interrupted (not re-queued: a notebook may
   * have side effects, so a person decides with retry), their pipelines are failed with the reason, and
   * processes the dead server recorded are killed. A pipeline whose notebook runs on a backend that outlives the
   * server (a Ray job) is not interrupted: a job is queued to follow that run again. An interrupted push intake is
   * queued again, once: it only creates pipelines (skipping those it already made), and an accepted push must not be
   * lost. Queued pipelines without a waiting job get one. Returns the pipeline ids marked interrupted.
   */
  recoverAtStart(): number[] {
    for (const job of this.jobs.recoverInterrupted(INTERRUPTED)) {
      const push = job.kind === JobKind.push ? pushPayload.safeParse(job.payload) : undefined;
      if (push?.success && !push.data.resumed) {
        this.jobs.enqueue({ kind: JobKind.push, payload: { ...push.data, resumed: true }, maxAttempts: 4 });
        this.deps.logger?.warn({ job: job.id, delivery: push.data.deliveryId }, "push intake interrupted by the previous stop was queued again");
      }
    }
    const marked: number[] = [];
    const { runner } = this.services;
    for (const p of this.services.store.withStatus(["running"])) {
      // the checkout is only needed while the notebook runs (a run followed again checks it out anew); the executed notebook stays
      rmSync(join(pipelineDir(this.services.config.dataDir, p.id), "repo"), { recursive: true, force: true });
      if (runner.runsOutliveServer && p.runnerHandle && this.services.store.runningPhase(p.id) === "execute") {
        // No dedupe key: a newer push of the same notebook must not supersede a run that is under way. A follower
        // queued by an earlier start that never got to run it is enough.
        if (this.jobFor(p.id)?.state !== JobState.queued) this.jobs.enqueue({ kind: JobKind.pipeline, payload: { pipelineId: p.id, resume: true } });
        this.deps.logger?.warn({ pipeline: p.id, run: p.runnerHandle }, `pipeline's notebook still runs on ${runner.name}: following it again`);
        continue;
      }
      const killed = killRecorded(this.services.store.processes(p.id));
      if (killed.length) this.deps.logger?.warn({ pipeline: p.id, pids: killed.map((k) => k.pid) }, "killed processes left by a previous run");
      this.services.store.clearProcesses(p.id);
      this.services.ending.end(p.id, "failed", failure(this.services.store.runningPhase(p.id), FailureKind.interrupted, INTERRUPTED));
      marked.push(p.id);
    }
    // A pipeline row is created before its job is queued (retry, manual run), and a graceful stop puts a pipeline
    // back to queued just before its job: a crash between the two leaves it queued with no waiting job (none, or
    // one recovered as failed above). It is queued now, so that "queued" always means it will run.
    for (const p of this.services.store.withStatus(["queued"])) {
      if (p.repoId === null || this.jobFor(p.id)?.state === JobState.queued) continue;
      this.enqueuePipeline(p.id, p.repoId, p.notebookPath);
      this.deps.logger?.warn({ pipeline: p.id }, "queued pipeline had no job (the previous stop came between creating and queuing it); queued it now");
    }
    return marked;
  }

  /** Queue handlers for the worker pool, keyed by job kind. */
  handlers() {
    return {
      [JobKind.push]: async (job: Job) => {
        const p = pushPayload.parse(job.payload);
        const repo = this.deps.findIntakeRepo(p.repoId);
        if (!repo) return; // removed since the push arrived: nothing to run
        await this.intake({ repo, sha: p.sha, before: p.before, ref: p.ref, deliveryId: p.deliveryId, trigger: "push" });
      },
      [JobKind.pipeline]: async (job: Job, ctx: { signal: AbortSignal }) => {
        const { pipelineId, resume } = pipelinePayload.parse(job.payload);
        await runPipeline(this.services, pipelineId, ctx.signal, { resume });
      },
    };
  }

  private enqueuePipeline(pipelineId: number, repoId: number, path: string): number[] {
    const { superseded } = this.jobs.enqueue({ kind: JobKind.pipeline, payload: { pipelineId }, dedupeKey: `${repoId}:${path}`, supersede: true });
    const ids: number[] = [];
    for (const old of superseded) {
      const oldId = pipelinePayload.safeParse(old.payload).data?.pipelineId;
      const reason = `superseded by pipeline ${pipelineId} (a newer push of ${path})`;
      if (oldId !== undefined && this.services.ending.end(oldId, "superseded", failure(null, FailureKind.cancelled, reason))) ids.push(oldId);
    }
    return ids;
  }

  private jobFor(pipelineId: number): Job | undefined {
    return this.jobs.findByPayload(JobKind.pipeline, "$.pipelineId", pipelineId);
  }
}

function describe(r: IntakeResult, pushed: string, branch: string): string {
  const parts: string[] = [];
  if (r.commit && r.commit !== pushed)
    parts.push(`commit ${pushed.slice(0, 12)} is behind the head of ${branch}: its changed notebooks run at the head ${r.commit}`);
  if (r.pipelines.length) parts.push(`started ${r.pipelines.map((p) => `pipeline ${p.id} (${p.notebook_path})`).join(", ")}`);
  if (r.skipped.length) parts.push(`skipped ${r.skipped.map((s) => `${s.path}: ${s.reason}`).join(", ")}`);
  if (r.superseded.length) parts.push(`superseded ${r.superseded.map((id) => `pipeline ${id}`).join(", ")}`);
  return parts.join("; ") || "no changed notebooks under the repository's glob";
}
