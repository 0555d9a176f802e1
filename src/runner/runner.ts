// The runner contract: how a pipeline's execute phase runs a notebook, whatever runs it (papermill on this machine
// today, a cluster later). The pipeline asks for the environment, submits, follows the output lines, may cancel,
// and reads the result; the handle's id is stored with the pipeline so that a backend whose runs outlive a restart
// of the server can be attached to again.
import type { Requirements } from "../environments/requirements-file.ts";
import type { ProcessRecord } from "../lib/process-tree.ts";
import type { FailedCell } from "./notebook-errors.ts";

/** What to run: the same for every backend. */
export type RunSpec = {
  pipelineId: number;
  /** The notebook file, inside the pipeline's checkout. */
  notebook: string;
  /** The notebook's working directory (the notebook's folder in the checkout). */
  cwd: string;
  /** The pipeline's own directory: checkout and outputs; the only place the notebook may write. */
  workDir: string;
  /** Where the notebook must leave its results (it learns them as parameters) and where the executed notebook goes. */
  outputs: { model: string; metrics: string; executed: string };
  /** Injected as the notebook's parameters, and set in its environment. */
  parameters: Record<string, string>;
  /** Set in the notebook's environment only, never written into the notebook (credentials). */
  env: Record<string, string>;
  /** Wall-clock limit for the whole notebook. */
  timeoutMs: number;
  /** Which submission of this pipeline this is, counting from 1 (a restart that submits again counts up). */
  attempt?: number;
  /** When the run was first submitted (ms since the epoch; default: now): a run attached again keeps its time limits. */
  startedAt?: number;
  /** The environment `prepare` made ready; absent: the backend's bundled runtime (no requirements.txt). */
  environment?: PreparedEnvironment;
};

/** A notebook's environment, made ready by `prepare` from the repository's requirements. */
export type PreparedEnvironment = {
  /** Names it in logs (the environment's cache key). */
  id: string;
  /** The requirements it was made from: a backend that installs them elsewhere (a cluster) passes them on. */
  requirements: Requirements;
  /** Whether it was ready before this run asked for it (built earlier, or by a concurrent pipeline). */
  reused: boolean;
  /** On this machine: its python and papermill, and its directory, which the run sees read-only. */
  local?: { python: string; papermill: string; dir: string };
};

/** What the caller hears while the run goes on. Both must not throw (a throw is ignored) and must not wait. */
export type RunEvents = {
  /** Each output line, in order per stream; `ray` is the cluster's own (its setup of the job, its reason for a failure). */
  onLine(stream: "stdout" | "stderr" | "ray", line: string): void;
  /** The run was placed on a cluster node (backends that run elsewhere call it once they know). */
  onPlaced?(where: { nodeId: string }): void;
  /** Processes of the run on this machine as they appear (backends that run elsewhere never call it). */
  onSpawn?(procs: ProcessRecord[]): void;
};

/**
 * `unavailable`: the backend could not be reached before it accepted the run, so nothing ran (try again later);
 * `detached`: the caller stopped following a run that goes on without the server (`RunHandle.detach`).
 */
export type RunStatus = "succeeded" | "failed" | "timed_out" | "cancelled" | "unavailable" | "detached";

export type RunResult = {
  status: RunStatus;
  /** The runner process's exit code, when there is one. */
  exitCode: number | null;
  durationMs: number;
  /** Why it did not succeed, in one line a user can act on. */
  error?: string;
  /** The cell that raised, read from the executed notebook. */
  failedCell?: FailedCell;
  /** Where the results are, on this machine: the spec's outputs, once the backend has put them there. */
  outputs: RunSpec["outputs"];
};

/** A run in flight. */
export type RunHandle = {
  /** Names the run to the backend; stored with the pipeline at submit, given to `attach` after a restart. */
  readonly id: string;
  /** Settles once the run has ended and nothing of it runs any more. Never rejects: every failure is a status. */
  readonly result: Promise<RunResult>;
  /** Stop the run (its result then says cancelled). Idempotent; does nothing once it has ended. */
  cancel(): void;
  /**
   * Stop following the run and leave it running (the server is stopping; `attach` follows it again at the next
   * start); the result then says detached. Only backends whose runs outlive the server have it.
   */
  detach?(): void;
};

export interface NotebookRunner {
  /** The backend's name, as RUNNER_BACKEND spells it. */
  readonly name: string;
  /**
   * Make ready the environment `requirements` describe (for this machine, or for the backend's nodes), logging
   * progress with `log`; pipelines that need the same environment at the same time share one build. Rejects with a
   * reason a user can act on (the resolver's words) when that fails, and with the signal's reason when it aborts.
   */
  prepare(requirements: Requirements, log: (line: string) => void, signal?: AbortSignal): Promise<PreparedEnvironment>;
  /** Whether runs go on without the server (then a restart attaches to them instead of calling them interrupted). */
  readonly runsOutliveServer: boolean;
  /** Why the backend cannot take a run now, in words for the pipeline's page ("waiting for Ray at …"); undefined when it can. */
  unavailable(): Promise<string | undefined>;
  /** Start the run. Returns at once; the run's failures are in its result, never thrown. */
  submit(spec: RunSpec, events: RunEvents): RunHandle;
  /**
   * Follow again the run named `handleId`, submitted from `spec` by a server that has since stopped, with `events`
   * (the first `linesSeen` output lines, which the pipeline already holds, are not repeated); undefined when the
   * backend's runs do not outlive the server. A run the backend no longer knows ends failed, saying so.
   */
  attach(handleId: string, spec: RunSpec, events: RunEvents, linesSeen: number): RunHandle | undefined;
}
