// Runs one pipeline through its five phases, recording each phase and the final status.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { JobAbortedError } from "../queue/worker-pool.ts";
import { deployPhase } from "./deploy-phase.ts";
import { downloadPhase } from "./download-phase.ts";
import { executePhase } from "./execute-phase.ts";
import { PhaseError, type PipelineContext, type PipelineServices } from "./pipeline-context.ts";
import { INTERRUPTED, type PhaseName } from "./pipeline-states.ts";
import { registerPhase } from "./register-phase.ts";
import { validatePhase } from "./validate-phase.ts";

/** Where a pipeline's files live: the executed notebook stays, the checkout is removed afterwards. */
export function pipelineDir(dataDir: string, pipelineId: number): string {
  return join(dataDir, "pipelines", String(pipelineId));
}

/**
 * Run pipeline `id` to a terminal status. Never throws for pipeline failures (they are recorded);
 * returns without work when the pipeline is already terminal (e.g. cancelled while queued).
 */
export async function runPipeline(services: PipelineServices, id: number, signal: AbortSignal): Promise<void> {
  const { store, bus } = services;
  const pipeline = store.get(id);
  if (pipeline.status !== "queued") return;
  const repo = pipeline.repoId === null ? undefined : services.findRepo(pipeline.repoId);
  if (!repo) {
    store.finish(id, "failed", "the repository was removed before the pipeline ran");
    bus.done(id, "failed");
    return;
  }
  const workDir = pipelineDir(services.config.dataDir, id);
  mkdirSync(workDir, { recursive: true });
  const ctx: PipelineContext = { services, pipeline, repo, workDir, signal, log: (line) => bus.append(id, "mlops", line) };

  store.markRunning(id);
  bus.status(id, "running");
  services.statuses?.changed(id);
  let phase: PhaseName = "download";
  let notDeployedReason: string | undefined;
  try {
    const steps: [PhaseName, () => unknown][] = [
      ["download", () => downloadPhase(ctx)],
      ["validate", () => validatePhase(ctx)],
      ["execute", () => executePhase(ctx)],
      ["register", () => registerPhase(ctx)],
      ["deploy", async () => (notDeployedReason = await deployPhase(ctx))],
    ];
    for (const [name, step] of steps) {
      phase = name;
      if (signal.aborted) throw new PhaseError("cancelled", "cancelled");
      store.setPhase(id, name, "running");
      bus.status(id, "running", name, "running");
      await step();
      const skipped = name === "deploy" && notDeployedReason !== undefined;
      store.setPhase(id, name, skipped ? "skipped" : "succeeded", skipped ? notDeployedReason : undefined);
      bus.status(id, "running", name, skipped ? "skipped" : "succeeded");
    }
    store.finish(id, "succeeded");
    bus.done(id, "succeeded");
  } catch (e) {
    const err = e instanceof PhaseError ? e : new PhaseError(`${phase} failed: ${e instanceof Error ? e.message : String(e)}`);
    // The server stopping is no user's cancel: record it as interrupted, as start-up recovery does after a crash.
    const stopping = signal.aborted && signal.reason instanceof JobAbortedError && signal.reason.why === "stopping";
    const status = stopping ? "failed" : signal.aborted && err.status === "failed" ? "cancelled" : err.status;
    const reason = stopping ? INTERRUPTED : err.message;
    ctx.log(`${phase} ${status === "failed" ? "failed" : status}: ${reason}`);
    store.setPhase(id, phase, "failed", reason);
    store.finish(id, status, reason);
    bus.done(id, status);
  } finally {
    store.clearProcesses(id);
    // The checkout and the sandbox's HOME and /tmp are only needed while the notebook runs; the executed notebook stays.
    for (const scratch of ["repo", ".sandbox"]) rmSync(join(workDir, scratch), { recursive: true, force: true });
    services.tracking?.ended(id);
    services.statuses?.changed(id);
  }
}
