// Why a pipeline did not succeed, as data: stored with the pipeline, read by the API, the pages and the commit
// statuses, so nothing parses a reason back out of its sentence. The one-line `error` stays for people.
import type { PhaseName } from "./pipeline-states.ts";

export const FailureKind = Object.freeze({
  /** A cell raised, or the notebook broke the contract (no model, bad metrics, a model name of another repository). */
  notebook_error: "notebook_error",
  /** PIPELINE_TIMEOUT_SECONDS passed. */
  timeout: "timeout",
  /** A person cancelled it, or a newer push of the same notebook superseded it. */
  cancelled: "cancelled",
  /** The server stopped (or died) under it. */
  interrupted: "interrupted",
  /** It ran into one of its NOTEBOOK_* limits. */
  limit: "limit",
  /** Its environment could not be prepared. */
  environment: "environment",
  /** Its model could not be converted to ONNX, or is not a loadable ONNX model. */
  conversion: "conversion",
  /** The backend that runs notebooks failed (papermill could not start, a cluster refused). */
  runner: "runner",
  /** Anything else: the platform's own failure (git, disk, a bug). */
  internal: "internal",
} as const);
export type FailureKind = (typeof FailureKind)[keyof typeof FailureKind];
export const FAILURE_KINDS = Object.values(FailureKind) as [FailureKind, ...FailureKind[]];

/** The notebook cell that raised: its 0-based index in the notebook as pushed, its tags, its exception line. */
export type FailedCellRef = { index: number; tags: string[]; exception: string };

export type PipelineFailure = {
  /** The phase it ended in; null when it never started (cancelled or superseded while queued, repository removed). */
  phase: PhaseName | null;
  kind: FailureKind;
  /** The one-line reason, the same as the pipeline's `error`. */
  message: string;
  cell?: FailedCellRef;
};

/** A failure of `kind` in `phase` with `message` (and the cell, when one raised). */
export function failure(phase: PhaseName | null, kind: FailureKind, message: string, cell?: FailedCellRef): PipelineFailure {
  return cell ? { phase, kind, message, cell } : { phase, kind, message };
}
