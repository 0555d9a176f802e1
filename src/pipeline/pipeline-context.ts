// What a running pipeline's phases share: its row, its work dir, its services, and a way to log.
import type { Config } from "../config.ts";
import type { Deployer } from "../models/deployer.ts";
import type { ModelStore } from "../models/model-store.ts";
import type { ModelLoader } from "../serving/model-registry.ts";
import type { Converted } from "./convert-joblib.ts";
import type { LogBus } from "./log-bus.ts";
import type { PipelineEnding } from "./pipeline-ending.ts";
import type { NotebookRunner, PreparedEnvironment } from "../runner/runner.ts";
import { FailureKind, type FailedCellRef } from "./pipeline-failure.ts";
import type { PipelineStatus } from "./pipeline-states.ts";
import type { PipelineRow, PipelineStore } from "./pipeline-store.ts";

/** A registered repository as the pipeline needs it. */
export type RepoInfo = { id: number; full_name: string; clone_url: string; deploy_metric: string; deploy_threshold: number | null };

/** MLflow tracking as a pipeline sees it (src/mlflow/mlflow-tracking.ts); absent without MLFLOW_TRACKING_URI. */
export type PipelineTracking = {
  /** Before execute: the MLflow run the notebook logs into, or undefined when MLflow cannot be reached now (made at sync). */
  startRun(pipeline: PipelineRow, modelName: string, log: (line: string) => void): Promise<string | undefined>;
  /** Metrics the notebook logged into its run (latest values); {} without a run or when MLflow cannot be reached. */
  loggedMetrics(pipelineId: number, log: (line: string) => void): Promise<Record<string, number>>;
  /** The pipeline ended, whatever its status: queue its sync to MLflow. Never throws. Called as a PipelineEnding listener. */
  ended(pipelineId: number): void;
};

/** Told when a pipeline starts running and when it ends (GitHub commit statuses, src/github/commit-status.ts). */
export type PipelineStatusListener = {
  /** Pipeline `pipelineId` changed status: report its current state. Never throws, never waits. */
  changed(pipelineId: number): void;
};

/** The services a pipeline run uses; built once in the composition root. */
export type PipelineServices = {
  config: Config;
  store: PipelineStore;
  bus: LogBus;
  models: ModelStore;
  deployer: Deployer;
  loadModel: ModelLoader;
  findRepo(id: number): RepoInfo | undefined;
  /** Make the commit's tree available in `dest` (fetching it first when needed). */
  checkout(repo: RepoInfo, sha: string, dest: string): Promise<void>;
  /** Runs the notebooks (src/runner/runner.ts): papermill here, or another backend. */
  runner: NotebookRunner;
  /**
   * Convert a joblib model to ONNX inside the pipeline's sandbox, checking agreement; rejects with the reason. With
   * `environment`, its python converts (the library that pickled the model reads it).
   */
  convertJoblib(run: {
    input: string;
    output: string;
    workDir: string;
    pipelineId: number;
    environment?: PreparedEnvironment;
    log: (line: string) => void;
  }): Promise<Converted>;
  /** Where every pipeline ends: records it and tells the listeners (commit statuses, MLflow). */
  ending: PipelineEnding;
  tracking?: PipelineTracking;
  /** Told when a pipeline starts running or goes back to the queue; ends reach it through `ending`. */
  statuses?: PipelineStatusListener;
};

export type PipelineContext = {
  services: PipelineServices;
  pipeline: PipelineRow;
  repo: RepoInfo;
  workDir: string;
  signal: AbortSignal;
  log(line: string): void;
  modelName?: string;
  notebookVersion?: string;
  notebookFile?: string;
  /** The notebook's own environment (a requirements.txt); absent: the bundled runtime. */
  environment?: PreparedEnvironment;
  outputs?: { model: string; metrics: string; executed: string };
  /**
   * Set when a restarted server follows again a run its predecessor submitted (a runner whose runs outlive the
   * server): the stored handle, the output lines the log already holds, and when the run was submitted.
   */
  resume?: { handle: string; linesSeen: number; startedAt: number };
  registered?: { version: number; path: string; metrics: Record<string, number> };
};

/** The runner cannot take the pipeline now (its cluster does not answer): it goes back to the queue and waits. */
export class WaitForRunnerError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "WaitForRunnerError";
  }
}

/** The server is stopping and the run goes on without it: the pipeline stays running, for the next start to follow. */
export class RunDetachedError extends Error {
  constructor(readonly handle: string) {
    super(`the server is stopping; run ${handle} goes on, and the next start of the server follows it again`);
    this.name = "RunDetachedError";
  }
}

/**
 * A phase failure whose message is the reason a user can act on. `status` overrides the pipeline's final status;
 * `kind` says what kind of failure it is (default: the notebook's own, `notebook_error`); `cell` names the cell that raised.
 */
export class PhaseError extends Error {
  readonly status: PipelineStatus;
  readonly kind: FailureKind;
  readonly cell?: FailedCellRef;

  constructor(message: string, opts: { status?: PipelineStatus; kind?: FailureKind; cell?: FailedCellRef } = {}) {
    super(message);
    this.name = "PhaseError";
    this.status = opts.status ?? "failed";
    this.kind = opts.kind ?? FailureKind.notebook_error;
    if (opts.cell) this.cell = opts.cell;
  }
}
