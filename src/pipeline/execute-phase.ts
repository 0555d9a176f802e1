// Phase 4: the runner (src/runner) runs the notebook with the platform's parameters; output streams to the log.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { splitUrlCredentials } from "../lib/redact-url.ts";
import { abortedByStop } from "../queue/worker-pool.ts";
import type { RunEvents, RunHandle, RunSpec } from "../runner/runner.ts";
import { limitReason } from "./limit-reasons.ts";
import { notebookOutputs } from "./notebook-outputs.ts";
import { PhaseError, RunDetachedError, WaitForRunnerError, type PipelineContext } from "./pipeline-context.ts";
import { FailureKind } from "./pipeline-failure.ts";

/**
 * Run the notebook (or, with ctx.resume, follow again the run a stopped server submitted); throws PhaseError
 * (status timed_out / cancelled / failed) unless it succeeds, WaitForRunnerError when the runner could not take it,
 * RunDetachedError when the server stops while a run that outlives it goes on.
 */
export async function executePhase(ctx: PipelineContext): Promise<void> {
  const { services, pipeline } = ctx;
  const outputs = notebookOutputs(ctx.workDir);
  mkdirSync(dirname(outputs.model), { recursive: true });
  ctx.outputs = outputs;
  const parameters: Record<string, string> = {
    MODEL_OUTPUT_PATH: outputs.model,
    METRICS_OUTPUT_PATH: outputs.metrics,
    PIPELINE_ID: String(pipeline.id),
  };
  // Credentials in the tracking URI go to the notebook's environment only: parameters are written into the executed
  // notebook, which is kept and uploaded.
  const secretEnv: Record<string, string> = {};
  if (services.config.mlflowTrackingUri) {
    const { url, username, password } = splitUrlCredentials(services.config.mlflowTrackingUri);
    parameters.MLFLOW_TRACKING_URI = url;
    if (username) secretEnv.MLFLOW_TRACKING_USERNAME = username;
    if (password) secretEnv.MLFLOW_TRACKING_PASSWORD = password;
  }
  const runId = await services.tracking?.startRun(pipeline, ctx.modelName!, ctx.log);
  if (runId) parameters.MLFLOW_RUN_ID = runId;
  const spec: RunSpec = {
    pipelineId: pipeline.id,
    notebook: ctx.notebookFile!,
    cwd: dirname(ctx.notebookFile!),
    workDir: ctx.workDir,
    outputs,
    parameters,
    env: secretEnv,
    timeoutMs: services.config.pipelineTimeoutSeconds * 1000,
    environment: ctx.environment,
    // A pipeline submitted again (after a stop put it back in the queue, or while its runner was away) is a new attempt.
    attempt: ctx.resume ? attemptOf(ctx.resume.handle) : attemptOf(services.store.get(pipeline.id).runnerHandle) + 1,
    startedAt: ctx.resume?.startedAt ?? Date.now(),
  };
  const events: RunEvents = {
    onLine: (stream, line) => services.bus.append(pipeline.id, stream, line),
    onSpawn: (procs) => services.store.recordProcesses(pipeline.id, procs),
    onPlaced: ({ nodeId }) => services.store.update(pipeline.id, { runnerNode: nodeId }),
  };
  const handle = start(ctx, spec, events);
  // A stop of the server lets a run that outlives it go on (the next start follows it); anything else stops it.
  const stop = () => (abortedByStop(ctx.signal) && handle.detach ? handle.detach() : handle.cancel());
  ctx.signal.addEventListener("abort", stop, { once: true });
  if (ctx.signal.aborted) stop();
  const result = await handle.result.finally(() => ctx.signal.removeEventListener("abort", stop));
  if (result.status === "detached") throw new RunDetachedError(handle.id);
  if (result.status === "unavailable") throw new WaitForRunnerError(result.error ?? `the ${services.runner.name} runner cannot take the pipeline now`);
  ctx.log(`notebook finished: ${result.status} in ${(result.durationMs / 1000).toFixed(1)} s`);
  if (result.status === "timed_out")
    throw new PhaseError(`the notebook ran past PIPELINE_TIMEOUT_SECONDS (${services.config.pipelineTimeoutSeconds} s) and was stopped`, {
      status: "timed_out",
      kind: FailureKind.timeout,
    });
  if (result.status === "cancelled") throw new PhaseError("cancelled", { status: "cancelled", kind: FailureKind.cancelled });
  if (result.status === "failed") {
    const c = result.failedCell;
    const cell = c && { index: c.index, tags: c.tags, exception: `${c.ename}: ${c.evalue}` };
    const limit = limitReason(result, services.config.notebook);
    if (limit) throw new PhaseError(limit, { kind: FailureKind.limit, ...(cell && { cell }) });
    // No cell raised and no limit: papermill itself failed (could not start the kernel, a broken runtime).
    if (!cell) throw new PhaseError(result.error ?? `papermill exited with code ${result.exitCode}`, { kind: FailureKind.runner });
    throw new PhaseError(result.error ?? `cell ${c.index + 1} raised ${cell.exception}`, { cell });
  }
}

/** Submit the run, storing its handle, or attach again to the one ctx.resume names. */
function start(ctx: PipelineContext, spec: RunSpec, events: RunEvents): RunHandle {
  const { services, pipeline, resume } = ctx;
  if (!resume) {
    const handle = services.runner.submit(spec, events);
    services.store.update(pipeline.id, { runnerHandle: handle.id });
    return handle;
  }
  const handle = services.runner.attach(resume.handle, spec, events, resume.linesSeen);
  if (!handle) throw new PhaseError(`the ${services.runner.name} runner cannot follow run ${resume.handle} again`, { kind: FailureKind.interrupted });
  ctx.log(`the server restarted while ${resume.handle} ran: following it again (${resume.linesSeen} lines of its output already in this log)`);
  return handle;
}

/** The attempt the stored runner handle names (`mlops-<id>-<attempt>`); 0 without one. */
function attemptOf(handle: string | null | undefined): number {
  const m = /^mlops-\d+-(\d+)$/.exec(handle ?? "");
  return m ? Number(m[1]) : 0;
}
