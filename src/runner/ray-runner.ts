// The Ray backend: each pipeline attempt is one Ray job, submitted through Ray's Jobs REST API (no Python in the
// server). The notebook's checkout and a small job script (python/ray_job.py, with the converter beside it) go up as
// the job's working dir, content-addressed; the job runs papermill on the node Ray picks, converts the model there
// and uploads the results to POST /api/pipelines/{id}/artifacts with a token valid for that pipeline only. Runs
// outlive the server: the submission id is the handle, and `attach` follows a job again after a restart.
import { join, relative } from "node:path";
import { CONVERTER_FILES } from "../pipeline/convert-joblib.ts";
import { readFailedCell } from "./notebook-errors.ts";
import jobScript from "./python/ray_job.py" with { type: "text" };
import { zipDirectory } from "../lib/zip-directory.ts";
import { isFinalRayStatus, RayUnreachableError, type RayJobsClient } from "./ray-jobs-client.ts";
import type { NotebookRunner, PreparedEnvironment, RunEvents, RunHandle, RunResult, RunSpec } from "./runner.ts";
import type { Requirements } from "../environments/requirements-file.ts";

import type { RayResources } from "./ray-resources.ts";

export type RayRunnerOptions = {
  client: Pick<RayJobsClient, "uploadPackage" | "submit" | "status" | "logsSince" | "stop" | "dashboardUrl">;
  /** Where jobs send their results: <publicUrl>/api/pipelines/{id}/artifacts. */
  publicUrl: string;
  /** A fresh upload token for the pipeline (stored hashed, valid while it runs). */
  issueUploadToken(pipelineId: number): string;
  /** How long a job may wait for a node before it fails (RAY_PENDING_TIMEOUT_SECONDS). */
  pendingTimeoutMs: number;
  /** What the job asks of the cluster. */
  resourcesFor(spec: RunSpec): RayResources;
  pollMs?: number;
};

const JOB_FILE = "mlops-job.json";
/** How long an ending pipeline waits for Ray to confirm a stopped job. */
const STOP_WAIT_MS = 30_000;
const SCRIPT = "ray_job.py";

/** The submission id of a pipeline's attempt: attempts count from 1 each time the same pipeline is submitted again. */
export function submissionId(pipelineId: number, attempt: number): string {
  return `mlops-${pipelineId}-${attempt}`;
}

export class RayRunner implements NotebookRunner {
  readonly name = "ray";

  constructor(private readonly opts: RayRunnerOptions) {}

  /** Nothing is built here: the requirements go to the job's runtime environment, which Ray builds on the node. */
  async prepare(requirements: Requirements, log: (line: string) => void): Promise<PreparedEnvironment> {
    log(`requirements from ${requirements.path}: installed by Ray on the node that runs the job (runtime_env pip)`);
    const id = new Bun.CryptoHasher("sha256").update(requirements.lines.join("\n")).digest("hex").slice(0, 24);
    return { id, requirements, reused: false };
  }

  submit(spec: RunSpec, events: RunEvents): RunHandle {
    const id = submissionId(spec.pipelineId, spec.attempt ?? 1);
    let cancel: () => void = () => {};
    const cancelled = new Promise<void>((resolve) => (cancel = resolve));
    const result = this.start(spec, id).then(
      () => this.follow(spec, id, events, cancelled, 0),
      (e: unknown) => failed(spec, e instanceof RayUnreachableError ? `Ray at the configured RAY_ADDRESS did not answer: ${e.message}` : errorText(e)),
    );
    return { id, result, cancel: () => cancel() };
  }

  attach(handleId: string, events: RunEvents, spec?: RunSpec, linesSeen = 0): RunHandle | undefined {
    if (!spec || !/^mlops-\d+-\d+$/.test(handleId)) return undefined;
    let cancel: () => void = () => {};
    const cancelled = new Promise<void>((resolve) => (cancel = resolve));
    return { id: handleId, result: this.follow(spec, handleId, events, cancelled, linesSeen), cancel: () => cancel() };
  }

  private async start(spec: RunSpec, id: string): Promise<void> {
    const repo = join(spec.workDir, "repo");
    const job = {
      notebook: relative(repo, spec.notebook),
      parameters: Object.fromEntries(Object.entries(spec.parameters).filter(([k]) => k !== "MODEL_OUTPUT_PATH" && k !== "METRICS_OUTPUT_PATH")),
      upload_url: `${this.opts.publicUrl}/api/pipelines/${spec.pipelineId}/artifacts`,
      timeout_seconds: Math.ceil(spec.timeoutMs / 1000),
    };
    const extra: Record<string, string> = { [JOB_FILE]: JSON.stringify(job), [SCRIPT]: jobScript, ...CONVERTER_FILES };
    const zip = zipDirectory(repo, extra);
    const { uri } = await this.opts.client.uploadPackage(zip);
    const r = this.opts.resourcesFor(spec);
    const runtimeEnv: Record<string, unknown> = {
      working_dir: uri,
      env_vars: { ...spec.env, MLOPS_UPLOAD_TOKEN: this.opts.issueUploadToken(spec.pipelineId), PYTHONUNBUFFERED: "1" },
    };
    if (spec.environment) runtimeEnv.pip = spec.environment.requirements.lines;
    await this.opts.client.submit({
      submissionId: id,
      entrypoint: `python ${SCRIPT}`,
      runtimeEnv,
      entrypointNumCpus: r.num_cpus,
      entrypointNumGpus: r.num_gpus,
      entrypointMemoryBytes: r.memory_mb === undefined ? undefined : r.memory_mb * 1024 * 1024,
      entrypointResources: r.resources,
      metadata: { pipeline_id: String(spec.pipelineId) },
    });
  }

  /** Poll the job until it ends, passing new log lines on; stop it on cancel, timeout or a node that never comes. */
  private async follow(spec: RunSpec, id: string, events: RunEvents, cancelled: Promise<void>, linesSeen: number): Promise<RunResult> {
    const started = performance.now();
    const pollMs = this.opts.pollMs ?? 500;
    // Logs are read from a byte offset; after a restart the lines the pipeline already holds are skipped.
    let offset = 0;
    let pending = "";
    let skip = linesSeen;
    let stoppedFor: "cancelled" | "timed_out" | "pending" | undefined;
    let cancelRequested = false;
    void cancelled.then(() => (cancelRequested = true));
    let runningSince: number | undefined;
    let stopSentAt: number | undefined;
    let placed = false;
    const emit = (line: string) => {
      if (skip > 0) skip--;
      else events.onLine(line.startsWith("mlops: ") ? "stderr" : "stdout", line);
    };
    const emitNew = async (final = false) => {
      const r = await this.opts.client.logsSince(id, offset);
      if (r.restarted) pending = "";
      offset = r.offset;
      const lines = (pending + r.text).split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) emit(line);
      if (final && pending) {
        emit(pending);
        pending = "";
      }
    };
    for (;;) {
      let status: Awaited<ReturnType<RayRunnerOptions["client"]["status"]>>;
      try {
        status = await this.opts.client.status(id);
        await emitNew(status !== undefined && isFinalRayStatus(status.status));
      } catch (e) {
        if (e instanceof RayUnreachableError && performance.now() - started < spec.timeoutMs) {
          await Promise.race([Bun.sleep(pollMs * 4), cancelled]);
          continue;
        }
        return failed(spec, `lost Ray while the job ran: ${errorText(e)}`, started);
      }
      if (!status) return failed(spec, `Ray knows no job ${id} (the cluster was replaced?)`, started);
      const ended = isFinalRayStatus(status.status);
      // Ray's stop reaches a job through its supervisor: a job no node took stays PENDING (until Ray's own start
      // timeout), and a running one may take a moment. The pipeline's end does not wait for either past STOP_WAIT_MS.
      const giveUp = stoppedFor !== undefined && (status.status === "PENDING" || performance.now() - (stopSentAt ?? 0) > STOP_WAIT_MS);
      if (ended || giveUp) {
        const duration = Math.round(performance.now() - started);
        if (stoppedFor === "cancelled") return { status: "cancelled", exitCode: null, durationMs: duration, outputs: spec.outputs };
        if (stoppedFor === "timed_out") return { status: "timed_out", exitCode: null, durationMs: duration, outputs: spec.outputs };
        if (stoppedFor === "pending")
          return failed(
            spec,
            `no node of the Ray cluster could take the job within RAY_PENDING_TIMEOUT_SECONDS; it asked for ${describe(this.opts.resourcesFor(spec))}`,
            started,
          );
        if (status.status === "SUCCEEDED") return { status: "succeeded", exitCode: 0, durationMs: duration, outputs: spec.outputs };
        return {
          ...failed(spec, `the Ray job ${status.status.toLowerCase()}: ${status.message || "no reason given"}`, started),
          failedCell: readFailedCell(spec.outputs.executed),
        };
      }
      if (status.status === "RUNNING") runningSince ??= performance.now();
      if (status.driverNodeId && !placed) {
        placed = true;
        events.onPlaced?.({ nodeId: status.driverNodeId });
      }
      const now = performance.now();
      if (!stoppedFor) {
        if (cancelRequested) stoppedFor = "cancelled";
        else if (now - started > spec.timeoutMs) stoppedFor = "timed_out";
        else if (runningSince === undefined && now - started > this.opts.pendingTimeoutMs) stoppedFor = "pending";
        if (stoppedFor) {
          stopSentAt = performance.now();
          await this.opts.client.stop(id).catch(() => false);
          continue; // read the status again at once: a pending job ends here
        }
      }
      await Promise.race([Bun.sleep(pollMs), cancelled]);
    }
  }
}

function describe(r: RayResources): string {
  const asked = Object.entries({ num_cpus: r.num_cpus, num_gpus: r.num_gpus, memory_mb: r.memory_mb }).filter(([, v]) => v !== undefined);
  const parts = [...asked.map(([k, v]) => `${k} ${v}`), ...Object.entries(r.resources ?? {}).map(([k, v]) => `${k} ${v}`)];
  return parts.length ? parts.join(", ") : "nothing beyond one CPU";
}

function failed(spec: RunSpec, error: string, started?: number): RunResult {
  return { status: "failed", exitCode: null, durationMs: started === undefined ? 0 : Math.round(performance.now() - started), error, outputs: spec.outputs };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
