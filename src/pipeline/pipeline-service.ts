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
import { INTERRUPTED, TERMINAL_STATUSES, type PipelineStatus } from "./pipeline-states.ts";
import { pipelineDir, runPipeline } from "./run-pipeline.ts";

/** What intake needs of the git mirror (GitMirror implements it). */
export interface RepoSource {
  fetch(cloneUrl: string, fullName: string, sha: string): Promise<void>;
  changedFiles(fullName: string, before: string, after: string): Promise<string[] | "all">;
  listFiles(fullName: string, sha: string): Promise<string[]>;
  readFile(fullName: string, sha: string, path: string): Promise<Uint8Array>;
  resolve(cloneUrl: string, fullName: string, branch: string): Promise<string>;
}

export type IntakeRepo = RepoInfo & { branch: string; notebook_glob: string };

export type PushRequest = { repo: IntakeRepo; sha: string; before: string | null; ref: string; deliveryId: string | null; trigger: "push" | "manual" };
export type IntakeResult = { pipelines: { id: number; notebook_path: string }[]; skipped: { path: string; reason: string }[]; superseded: number[] };

export const JobKind = { push: "push", pipeline: "pipeline" } as const;

// `resumed`: the intake was interrupted by a stop and queued again at start (only once).
const pushPayload = z.object({ deliveryId: z.string().nullable(), repoId: z.number(), sha: z.string(), before: z.string().nullable(), ref: z.string(), resumed: z.boolean().optional() });
const pipelinePayload = z.object({ pipelineId: z.number() });

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
      /** Record what a delivery led to (shown to operators). */
      noteDelivery?(deliveryId: string, detail: string): void;
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
   * Fetch the commit, find changed notebooks under the glob, and queue one pipeline per tagged notebook;
   * a newer push of the same notebook supersedes a queued older one. Throws TransientError for fetch failures worth retrying.
   */
  async intake(req: PushRequest): Promise<IntakeResult> {
    const { repo, sha } = req;
    await this.source.fetch(repo.clone_url, repo.full_name, sha);
    const changed = req.before ? await this.source.changedFiles(repo.full_name, req.before, sha) : "all";
    const all = await this.source.listFiles(repo.full_name, sha);
    const result: IntakeResult = { pipelines: [], skipped: [], superseded: [] };
    for (const path of this.deps.notebooksToRun(changed, all, repo.notebook_glob)) {
      const bytes = await this.source.readFile(repo.full_name, sha, path);
      if (!isPipelineNotebook(bytes)) {
        result.skipped.push({ path, reason: "no mlops:* cell tags" });
        continue;
      }
      const existing = req.deliveryId ? this.services.store.findByDelivery(req.deliveryId, path) : undefined;
      if (existing) {
        // The same delivery again (intake resumed after a crash, or retried after a transient error): keep the
        // pipeline made the first time, and give it its job if the interruption came between the two.
        if (existing.status === "queued" && !this.jobFor(existing.id)) result.superseded.push(...this.enqueuePipeline(existing.id, repo.id, path));
        result.pipelines.push({ id: existing.id, notebook_path: path });
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
    if (req.deliveryId) this.deps.noteDelivery?.(req.deliveryId, describe(result));
    this.deps.wake?.();
    return result;
  }

  /** Cancel a queued or running pipeline. Throws NotFoundError / ConflictError (already ended). */
  async cancel(id: number): Promise<void> {
    const p = this.services.store.get(id);
    if (TERMINAL_STATUSES.includes(p.status as PipelineStatus)) throw new ConflictError(`pipeline ${id} already ended (${p.status})`);
    const job = this.jobFor(id);
    if (job) this.jobs.cancel(job.id);
    // A queued pipeline has no handler to record the end; a running one is finished by its handler as it stops.
    if (p.status === "queued" && this.services.store.finish(id, "cancelled", "cancelled before it started")) this.services.bus.done(id, "cancelled");
    if (p.status === "running" && !job) {
      this.services.store.finish(id, "cancelled", "cancelled");
      this.services.bus.done(id, "cancelled");
    }
  }

  /** Queue a new pipeline for the same commit and notebook; returns its id. Throws ConflictError while the original still runs. */
  async retry(id: number): Promise<number> {
    const p = this.services.store.get(id);
    if (!TERMINAL_STATUSES.includes(p.status as PipelineStatus)) throw new ConflictError(`pipeline ${id} has not ended yet (${p.status})`);
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
   * processes the dead server recorded are killed. An interrupted push intake is queued again, once: it only
   * creates pipelines (skipping those it already made), and an accepted push must not be lost. Queued pipelines
   * without a waiting job get one. Returns the pipeline ids marked.
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
    for (const p of this.services.store.withStatus(["running"])) {
      const killed = killRecorded(this.services.store.processes(p.id));
      if (killed.length) this.deps.logger?.warn({ pipeline: p.id, pids: killed.map((k) => k.pid) }, "killed processes left by a previous run");
      this.services.store.clearProcesses(p.id);
      this.services.store.finish(p.id, "failed", INTERRUPTED);
      // the checkout is only needed while the notebook runs; the executed notebook stays
      rmSync(join(pipelineDir(this.services.config.dataDir, p.id), "repo"), { recursive: true, force: true });
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
        const { pipelineId } = pipelinePayload.parse(job.payload);
        await runPipeline(this.services, pipelineId, ctx.signal);
      },
    };
  }

  private enqueuePipeline(pipelineId: number, repoId: number, path: string): number[] {
    const { superseded } = this.jobs.enqueue({ kind: JobKind.pipeline, payload: { pipelineId }, dedupeKey: `${repoId}:${path}`, supersede: true });
    const ids: number[] = [];
    for (const old of superseded) {
      const oldId = pipelinePayload.safeParse(old.payload).data?.pipelineId;
      if (oldId !== undefined && this.services.store.finish(oldId, "superseded", `superseded by pipeline ${pipelineId} (a newer push of ${path})`)) {
        this.services.bus.done(oldId, "superseded");
        ids.push(oldId);
      }
    }
    return ids;
  }

  private jobFor(pipelineId: number): Job | undefined {
    return this.jobs.findByPayload(JobKind.pipeline, "$.pipelineId", pipelineId);
  }
}

function describe(r: IntakeResult): string {
  const parts: string[] = [];
  if (r.pipelines.length) parts.push(`started ${r.pipelines.map((p) => `pipeline ${p.id} (${p.notebook_path})`).join(", ")}`);
  if (r.skipped.length) parts.push(`skipped ${r.skipped.map((s) => `${s.path}: ${s.reason}`).join(", ")}`);
  if (r.superseded.length) parts.push(`superseded ${r.superseded.map((id) => `pipeline ${id}`).join(", ")}`);
  return parts.join("; ") || "no changed notebooks under the repository's glob";
}
