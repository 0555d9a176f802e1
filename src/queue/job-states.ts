// The states a queued job moves through, as one frozen object used everywhere, and the Job value.

import { type JobFailureKind, JobState } from "../db/states.ts";

export { JobFailureKind, JobState } from "../db/states.ts";

/** States from which a job never moves again. */
export const terminalJobStates: readonly JobState[] = [JobState.succeeded, JobState.failed, JobState.cancelled, JobState.superseded];

/** True when `state` is terminal (succeeded, failed, cancelled or superseded). */
export function isTerminalJobState(state: JobState): boolean {
  return terminalJobStates.includes(state);
}

/** One row of the queue, with its payload parsed. Times ending in `At`/`Until` are epoch milliseconds, except `createdAt` (ISO text). */
export type Job = {
  id: number;
  kind: string;
  /** The JSON value given to `enqueue`; the handler validates it. */
  payload: unknown;
  state: JobState;
  dedupeKey: string | null;
  /** Attempts started so far (incremented when claimed). */
  attempts: number;
  maxAttempts: number;
  /** Not claimed before this time. */
  runAt: number;
  /** The worker holding the job while running (kept afterwards for the record). */
  lockedBy: string | null;
  /** End of the running worker's lease; null unless running. */
  lockedUntil: number | null;
  lastError: string | null;
  /** Why its last attempt did not succeed, as data; null while it has not failed. */
  failureKind: JobFailureKind | null;
  createdAt: string;
  updatedAt: number;
};
