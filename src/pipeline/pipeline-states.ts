// Pipeline and phase states, in one place.

export const PipelineStatus = {
  queued: "queued",
  running: "running",
  succeeded: "succeeded",
  failed: "failed",
  cancelled: "cancelled",
  timed_out: "timed_out",
  superseded: "superseded",
} as const;
export type PipelineStatus = (typeof PipelineStatus)[keyof typeof PipelineStatus];

/** Statuses after which a pipeline never changes again. */
export const TERMINAL_STATUSES: readonly PipelineStatus[] = ["succeeded", "failed", "cancelled", "timed_out", "superseded"];

/** The reason recorded on a pipeline the server stopped (or died) under. */
export const INTERRUPTED = "interrupted: the server stopped while this pipeline ran; retry it to run it again";

export const PHASES = ["download", "validate", "execute", "register", "deploy"] as const;
export type PhaseName = (typeof PHASES)[number];

export const PhaseStatus = { pending: "pending", running: "running", succeeded: "succeeded", failed: "failed", skipped: "skipped" } as const;
export type PhaseStatus = (typeof PhaseStatus)[keyof typeof PhaseStatus];
