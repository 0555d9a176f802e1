// Pipeline and phase states, in one place.

import { PhaseStatus, PipelineStatus } from "../db/states.ts";

export { PhaseStatus, PIPELINE_STATUSES, PipelineStatus } from "../db/states.ts";

/** Statuses after which a pipeline never changes again. */
export const TERMINAL_STATUSES: readonly PipelineStatus[] = Object.freeze([
  PipelineStatus.succeeded,
  PipelineStatus.failed,
  PipelineStatus.cancelled,
  PipelineStatus.timed_out,
  PipelineStatus.superseded,
]);

/** Whether a pipeline in `status` has ended for good. */
export function isTerminalStatus(status: PipelineStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** The reason recorded on a pipeline the server stopped (or died) under. */
export const INTERRUPTED = "interrupted: the server stopped while this pipeline ran; retry it to run it again";

export const PHASES = ["download", "validate", "environment", "execute", "register", "deploy"] as const;
export type PhaseName = (typeof PHASES)[number];
