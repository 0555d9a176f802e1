// The states stored in the status columns, typed once: frozen objects whose values are the column's only values.
// They live beside the schema (which types its columns with them); src/pipeline/pipeline-states.ts and
// src/queue/job-states.ts re-export them for the code that moves pipelines and jobs along.

export const PipelineStatus = Object.freeze({
  queued: "queued",
  running: "running",
  succeeded: "succeeded",
  failed: "failed",
  cancelled: "cancelled",
  timed_out: "timed_out",
  superseded: "superseded",
} as const);
export type PipelineStatus = (typeof PipelineStatus)[keyof typeof PipelineStatus];
/** Every pipeline status, for z.enum and lists. */
export const PIPELINE_STATUSES = Object.freeze(Object.values(PipelineStatus)) as readonly [PipelineStatus, ...PipelineStatus[]];

export const PhaseStatus = Object.freeze({ pending: "pending", running: "running", succeeded: "succeeded", failed: "failed", skipped: "skipped" } as const);
export type PhaseStatus = (typeof PhaseStatus)[keyof typeof PhaseStatus];

/**
 * Every state a job can be in. `queued` → `running` → one of the terminal states; a failed attempt
 * of a retryable job goes back to `queued`. Only JobStore changes a job's state.
 */
export const JobState = Object.freeze({
  queued: "queued",
  running: "running",
  succeeded: "succeeded",
  failed: "failed",
  cancelled: "cancelled",
  superseded: "superseded",
} as const);
export type JobState = (typeof JobState)[keyof typeof JobState];

/**
 * Why a job's last attempt did not succeed: `error` (its handler failed), `transient` (a failure worth retrying; the
 * job retries while it has attempts), `interrupted` (the server stopped or died under it), `expired` (its worker
 * stopped heartbeating), `superseded` (a newer job of the same key replaced it while it waited).
 */
export const JobFailureKind = Object.freeze({
  error: "error",
  transient: "transient",
  interrupted: "interrupted",
  expired: "expired",
  superseded: "superseded",
} as const);
export type JobFailureKind = (typeof JobFailureKind)[keyof typeof JobFailureKind];
