// Runs one pipeline through its six phases, recording each phase and the final status.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { abortedByStop, RequeueJobError } from "../queue/worker-pool.ts";
import { deployPhase } from "./deploy-phase.ts";
import { downloadPhase } from "./download-phase.ts";
import { environmentPhase } from "./environment-phase.ts";
import { executePhase } from "./execute-phase.ts";
import { PhaseError, RunDetachedError, WaitForRunnerError, type PipelineContext, type PipelineServices } from "./pipeline-context.ts";
import type { EndStatus } from "./pipeline-ending.ts";
import { failure, FailureKind } from "./pipeline-failure.ts";
import { INTERRUPTED, PHASES, type PhaseName } from "./pipeline-states.ts";
import { registerPhase } from "./register-phase.ts";
import { validatePhase } from "./validate-phase.ts";

/** Where a pipeline's files live: the executed notebook stays, the checkout is removed afterwards. */
export function pipelineDir(dataDir: string, pipelineId: number): string {
  return join(dataDir, "pipelines", String(pipelineId));
}

/** The log line of a pipeline a graceful stop put back in the queue. */
export const REQUEUED_BY_STOP = "stopped by a server shutdown; queued again, it runs from the start at the next start of the server";

/** The log line of a pipeline that waits for its runner; the reason comes first. */
export const WAITING_FOR_RUNNER = "the pipeline stays queued and is tried again, less often the longer it waits";

/** How long a pipeline that has waited `waitedMs` for its runner waits before the next try: half that, 2 s to 60 s. */
export function runnerRetryDelayMs(waitedMs: number): number {
  return Math.min(60_000, Math.max(2_000, Math.round(waitedMs / 2)));
}

/**
 * Run pipeline `id` to a terminal status. Never throws for pipeline failures (they are recorded);
 * returns without work when the pipeline is already terminal (e.g. cancelled while queued).
 * When the worker pool's stop (signal reason "stopping") cuts the run short, the pipeline goes back to `queued`
 * and this throws RequeueJobError so its job is queued again, the first time; a second time it fails as interrupted.
 * A run that outlives the server (a Ray job) is left running instead, and `resume` at the next start follows it
 * again: the phases before execute are redone quietly (checkout, contract), then the run is attached to.
 * While the runner cannot take runs (its cluster does not answer), the pipeline stays queued with the reason and
 * this throws RequeueJobError due after a backoff.
 */
export async function runPipeline(services: PipelineServices, id: number, signal: AbortSignal, opts: { resume?: boolean } = {}): Promise<void> {
  const { store, bus, ending } = services;
  const pipeline = store.get(id);
  if (pipeline.status !== (opts.resume ? "running" : "queued")) return;
  const repo = pipeline.repoId === null ? undefined : services.findRepo(pipeline.repoId);
  if (!repo) {
    ending.end(id, "failed", failure(null, FailureKind.internal, "the repository was removed before the pipeline ran"));
    return;
  }
  const workDir = pipelineDir(services.config.dataDir, id);
  const log = (line: string) => void bus.append(id, "mlops", line);
  const ctx: PipelineContext = { services, pipeline, repo, workDir, signal, log };
  if (opts.resume) {
    if (!pipeline.runnerHandle) return;
    ctx.resume = {
      handle: pipeline.runnerHandle,
      linesSeen: store.outputLines(id, "mlops"),
      startedAt: store.phaseStartedAt(id, "execute") ?? Date.now(),
    };
  } else {
    const busy = await services.runner.unavailable();
    if (busy) {
      const wait = waitForRunner(services, id, busy);
      if (wait) throw wait;
      return;
    }
    store.markRunning(id);
    bus.status(id, "running");
    services.statuses?.changed(id);
  }
  // Made once the pipeline runs: one that waits for its runner leaves nothing on disk.
  mkdirSync(workDir, { recursive: true });
  let phase: PhaseName = "download";
  let requeued = false;
  try {
    // A step resolves to the reason it was skipped (no requirements, not deployed), or to nothing when it did its work.
    const done = async (work: unknown) => void (await work);
    const steps: [PhaseName, () => Promise<string | undefined>][] = [
      ["download", () => done(downloadPhase(ctx))],
      ["validate", () => done(validatePhase(ctx))],
      ["environment", () => environmentPhase(ctx)],
      ["execute", () => done(executePhase(ctx))],
      ["register", () => done(registerPhase(ctx))],
      ["deploy", () => deployPhase(ctx)],
    ];
    for (const [name, step] of steps) {
      phase = name;
      // Followed again after a restart: what came before execute is redone without a word, for its results (the
      // checkout, the model's name); its phases stay as they were recorded.
      const replay = ctx.resume !== undefined && PHASES.indexOf(name) < PHASES.indexOf("execute");
      if (replay) {
        ctx.log = () => {};
        await step().finally(() => (ctx.log = log));
        continue;
      }
      // Once the notebook has run, a stop lets register and deploy finish (short work of our own) rather than
      // throw the run away; a cancel still ends it here.
      if (signal.aborted && !(abortedByStop(signal) && (name === "register" || name === "deploy")))
        throw new PhaseError("cancelled", { status: "cancelled", kind: FailureKind.cancelled });
      // A run followed again keeps its execute phase's start (its time limits count from there).
      if (!(ctx.resume && name === "execute")) store.setPhase(id, name, "running");
      bus.status(id, "running", name, "running");
      const skippedBecause = await step();
      store.setPhase(id, name, skippedBecause !== undefined ? "skipped" : "succeeded", skippedBecause);
      bus.status(id, "running", name, skippedBecause !== undefined ? "skipped" : "succeeded");
    }
    ending.end(id, "succeeded");
  } catch (e) {
    if (e instanceof RunDetachedError) {
      ctx.log(`${phase} ${e.message}`);
      return;
    }
    const wait = e instanceof WaitForRunnerError ? waitForRunner(services, id, e.message) : undefined;
    if (wait) {
      requeued = true;
      throw wait;
    }
    const err = e instanceof PhaseError ? e : new PhaseError(`${phase} failed: ${e instanceof Error ? e.message : String(e)}`, { kind: FailureKind.internal });
    // Cut short by the server stopping: no user's cancel. The first time it runs again at the next start; a second
    // time it is recorded as interrupted, as start-up recovery does after a crash. Register and deploy are not cut short
    // (see above), so what fails there failed on its own.
    const stopped = abortedByStop(signal) && phase !== "register" && phase !== "deploy";
    if (stopped && store.requeueAfterStop(id)) {
      requeued = true;
      ctx.log(`${phase} ${REQUEUED_BY_STOP}`);
      bus.status(id, "queued");
      throw new RequeueJobError(`pipeline ${id} ${REQUEUED_BY_STOP}`);
    }
    // A cancel that reached the run as some other failure (a killed process) is still a cancel.
    const cancelled = !stopped && signal.aborted && !abortedByStop(signal) && err.status === "failed";
    const status = stopped ? "failed" : cancelled ? "cancelled" : (err.status as EndStatus);
    const ended = stopped
      ? failure(phase, FailureKind.interrupted, INTERRUPTED)
      : cancelled
        ? failure(phase, FailureKind.cancelled, err.message)
        : failure(phase, err.kind, err.message, err.cell);
    ctx.log(
      `${phase} ${status === "failed" ? "failed" : status}: ${ended.message}${stopped ? " (a shutdown had already stopped it once, so it is not queued again)" : ""}`,
    );
    store.setPhase(id, phase, "failed", ended.message);
    ending.end(id, status, ended);
  } finally {
    store.clearProcesses(id);
    // A re-queued run starts afresh: nothing of this attempt (checkout, partial outputs) may leak into the next.
    // Otherwise the checkout and the sandbox's HOME and /tmp are only needed while the notebook runs; the executed
    // notebook stays.
    if (requeued) rmSync(workDir, { recursive: true, force: true });
    else for (const scratch of ["repo", ".sandbox"]) rmSync(join(workDir, scratch), { recursive: true, force: true });
    // Back in the queue: the commit status shows it waiting again (an end told its listeners already).
    if (requeued) services.statuses?.changed(id);
  }
}

/**
 * Keep pipeline `id` queued, saying why (`reason`, logged when it first appears or changes); returns the
 * RequeueJobError to throw so its job comes back after a backoff, or undefined when the pipeline has ended meanwhile.
 */
function waitForRunner(services: PipelineServices, id: number, reason: string): RequeueJobError | undefined {
  const { store, bus } = services;
  const before = store.get(id);
  const waited = store.waitForRunner(id, reason);
  if (waited === undefined) return undefined;
  if (before.waitingReason !== reason) bus.append(id, "mlops", `${reason}; ${WAITING_FOR_RUNNER}`);
  if (before.status !== "queued") bus.status(id, "queued");
  return new RequeueJobError(`pipeline ${id}: ${reason}`, runnerRetryDelayMs(waited));
}
