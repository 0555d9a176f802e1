// How GitHub commit status reporting stands, read from the queue's record of its jobs (which survives restarts).
import type { JobStore } from "../queue/job-store.ts";
import { COMMIT_STATUS_JOB } from "./commit-status.ts";

/** The last delivery of a commit status: posted, retrying after a failed attempt, or given up. */
export type CommitStatusHealth = {
  state: "ok" | "retrying" | "failed";
  /** When (epoch ms). */
  at: number;
  pipelineId: number | null;
  /** Why it did not get through; null when it did. */
  error: string | null;
} | null;

/** The outcome of the commit status job that changed last; null when none is on record (ended jobs are pruned after a week). One indexed query. */
export function commitStatusHealth(jobs: JobStore): CommitStatusHealth {
  const job = jobs.lastOutcome(COMMIT_STATUS_JOB);
  if (!job) return null;
  const pipelineId = (job.payload as { pipelineId?: unknown } | null)?.pipelineId;
  return {
    state: job.state === "succeeded" ? "ok" : job.state === "failed" ? "failed" : "retrying",
    at: job.updatedAt,
    pipelineId: typeof pipelineId === "number" ? pipelineId : null,
    error: job.state === "succeeded" ? null : job.lastError,
  };
}
