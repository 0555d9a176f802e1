// The Ray backend: each pipeline attempt is one Ray job, submitted through Ray's Jobs REST API (no Python in the
// server). The notebook's checkout and a small job script (python/ray_job.py, with the converter beside it) go up as
// the job's working dir, content-addressed; the job runs papermill on the node Ray picks, converts the model there
// and uploads the results to POST /api/pipelines/{id}/artifacts with a token valid for that pipeline only. Runs
// outlive the server: the submission id is the handle, and `attach` follows a job again after a restart. A cluster
// that does not answer is waited for, never a failure of its own: before a job is accepted the pipeline waits in the
// queue (`unavailable`); once it runs, a cluster that stays silent past `lostAfterMs` fails it.
import { join, relative } from "node:path";
import { CONVERTER_FILES } from "../pipeline/convert-joblib.ts";
import { readFailedCell } from "./notebook-errors.ts";
import jobScript from "./python/ray_job.py" with { type: "text" };
import { zipDirectory } from "../lib/zip-directory.ts";
import { isFinalRayStatus, RayApiError, type RayJobInfo, RayUnreachableError, type RayJobsClient } from "./ray-jobs-client.ts";
import { isRaySetupLine, rayFailureReason, rayMessageForLog } from "./ray-messages.ts";
import type { NotebookRunner, PreparedEnvironment, RunEvents, RunHandle, RunResult, RunSpec } from "./runner.ts";
import type { Requirements } from "../environments/requirements-file.ts";

import type { RayResources } from "./ray-resources.ts";

export type RayRunnerOptions = {
  client: Pick<RayJobsClient, "address" | "version" | "uploadPackage" | "submit" | "status" | "logsSince" | "stop" | "dashboardUrl">;
  /** Where jobs send their results: <publicUrl>/api/pipelines/{id}/artifacts. */
  publicUrl: string;
  /** A fresh upload token for the pipeline (stored hashed, valid while it runs). */
  issueUploadToken(pipelineId: number): string;
  /** How long a job may wait for a node before it fails (RAY_PENDING_TIMEOUT_SECONDS). */
  pendingTimeoutMs: number;
  /** How long a running job's cluster may stay silent before the pipeline fails (RAY_LOST_TIMEOUT_SECONDS). */
  lostAfterMs: number;
  /** What the job asks of the cluster. */
  resourcesFor(spec: RunSpec): RayResources;
  pollMs?: number;
};

const JOB_FILE = "mlops-job.json";
/** How long an ending pipeline waits for Ray to confirm a stopped job. */
const STOP_WAIT_MS = 30_000;
const SCRIPT = "ray_job.py";
/** How long the job script keeps trying to upload its results while the server does not answer (a restart). */
const UPLOAD_RETRY_SECONDS = 900;

/** The submission id of a pipeline's attempt: attempts count from 1 each time the same pipeline is submitted again. */
export function submissionId(pipelineId: number, attempt: number): string {
  return `mlops-${pipelineId}-${attempt}`;
}

/** What the caller asked of a run being followed; `wake` settles at the first request. */
type Requests = { cancel: boolean; detach: boolean; wake: Promise<void> };

function requests(): { asked: Requests; cancel(): void; detach(): void } {
  let wake: () => void = () => {};
  const asked: Requests = { cancel: false, detach: false, wake: new Promise<void>((resolve) => (wake = resolve)) };
  return {
    asked,
    cancel: () => {
      asked.cancel = true;
      wake();
    },
    detach: () => {
      asked.detach = true;
      wake();
    },
  };
}

export class RayRunner implements NotebookRunner {
  readonly name = "ray";
  readonly runsOutliveServer = true;

  constructor(private readonly opts: RayRunnerOptions) {}

  /** Nothing is built here: the requirements go to the job's runtime environment, which Ray builds on the node. */
  async prepare(requirements: Requirements, log: (line: string) => void): Promise<PreparedEnvironment> {
    log(`requirements from ${requirements.path}: installed by Ray on the node that runs the job (runtime_env pip)`);
    const id = new Bun.CryptoHasher("sha256").update(requirements.lines.join("\n")).digest("hex").slice(0, 24);
    return { id, requirements, reused: false };
  }

  async unavailable(): Promise<string | undefined> {
    try {
      await this.opts.client.version();
      return undefined;
    } catch (e) {
      if (isSilence(e)) return this.waiting(e);
      return undefined; // it answered, if strangely: submitting says what is wrong
    }
  }

  submit(spec: RunSpec, events: RunEvents): RunHandle {
    const id = submissionId(spec.pipelineId, spec.attempt ?? 1);
    const r = requests();
    const result = this.start(spec, id).then(
      () => this.follow(spec, id, events, r.asked, 0),
      (e: unknown): RunResult =>
        isSilence(e)
          ? { ...failed(spec, this.waiting(e)), status: "unavailable" }
          : failed(spec, e instanceof RayApiError && e.duplicateSubmission ? this.taken(id) : errorText(e)),
    );
    return { id, result, cancel: r.cancel, detach: r.detach };
  }

  attach(handleId: string, spec: RunSpec, events: RunEvents, linesSeen: number): RunHandle | undefined {
    if (!/^mlops-\d+-\d+$/.test(handleId)) return undefined;
    const r = requests();
    return { id: handleId, result: this.follow(spec, handleId, events, r.asked, linesSeen), cancel: r.cancel, detach: r.detach };
  }

  private taken(id: string): string {
    return `Ray already has a job ${id} that this server did not submit: another mlops server shares the cluster and its pipeline ids collide with this one's (give each server a cluster of its own)`;
  }

  private waiting(e: unknown): string {
    return `waiting for Ray at ${this.opts.client.address}: ${errorText(e)}`;
  }

  private async start(spec: RunSpec, id: string): Promise<void> {
    const repo = join(spec.workDir, "repo");
    const job = {
      notebook: relative(repo, spec.notebook),
      parameters: Object.fromEntries(Object.entries(spec.parameters).filter(([k]) => k !== "MODEL_OUTPUT_PATH" && k !== "METRICS_OUTPUT_PATH")),
      upload_url: `${this.opts.publicUrl}/api/pipelines/${spec.pipelineId}/artifacts`,
      upload_retry_seconds: UPLOAD_RETRY_SECONDS,
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
      // Whose job it is: submission ids are per server, and two servers sharing a cluster must not follow each other's.
      metadata: { pipeline_id: String(spec.pipelineId), mlops_server: this.opts.publicUrl },
    });
  }

  /**
   * Poll the job until it ends, passing new log lines on; stop it on cancel, timeout or a node that never comes;
   * let it be on detach. Time limits count from spec.startedAt, so a job followed again after a restart keeps them.
   */
  private async follow(spec: RunSpec, id: string, events: RunEvents, asked: Requests, linesSeen: number): Promise<RunResult> {
    const started = spec.startedAt ?? Date.now();
    const pollMs = this.opts.pollMs ?? 500;
    const result = (status: RunResult["status"], exitCode: number | null = null): RunResult => ({
      status,
      exitCode,
      durationMs: Date.now() - started,
      outputs: spec.outputs,
    });
    // Logs are read from a character offset; after a restart the lines the pipeline already holds are skipped.
    let offset = 0;
    let pending = "";
    let skip = linesSeen;
    let stoppedFor: "cancelled" | "timed_out" | "pending" | undefined;
    let runningSince: number | undefined;
    let stopSentAt = 0;
    let silentSince: number | undefined;
    let placed = false;
    const emit = (line: string) => {
      if (skip > 0) skip--;
      else events.onLine(isRaySetupLine(line) ? "ray" : line.startsWith("mlops: ") ? "stderr" : "stdout", line);
    };
    const emitNew = async (final: boolean) => {
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
      if (asked.detach && !stoppedFor) return result("detached");
      let status: RayJobInfo | undefined;
      try {
        status = await this.opts.client.status(id);
        if (status) await emitNew(isFinalRayStatus(status.status));
        silentSince = undefined;
      } catch (e) {
        if (!isSilence(e)) return failed(spec, `Ray answered job ${id}'s status unexpectedly: ${errorText(e)}`, started);
        silentSince ??= Date.now();
        if (Date.now() - silentSince > this.opts.lostAfterMs)
          return failed(
            spec,
            `lost the Ray cluster at ${this.opts.client.address}: no answer for ${Math.round(this.opts.lostAfterMs / 1000)} s (RAY_LOST_TIMEOUT_SECONDS) while job ${id} ran; last: ${errorText(e)}`,
            started,
          );
        await this.pause(pollMs * 2, asked, stoppedFor !== undefined);
        continue;
      }
      if (!status) return failed(spec, `Ray knows no job ${id}: the cluster was replaced, or the server stopped before Ray accepted the job`, started);
      const owner = status.metadata?.mlops_server;
      if (owner !== undefined && owner !== this.opts.publicUrl) return failed(spec, this.taken(id), started);
      const ended = isFinalRayStatus(status.status);
      // Ray's stop reaches a job through its supervisor: a job no node took stays PENDING (until Ray's own start
      // timeout), and a running one may take a moment. The pipeline's end does not wait for either past STOP_WAIT_MS.
      const giveUp = stoppedFor !== undefined && (status.status === "PENDING" || Date.now() - stopSentAt > STOP_WAIT_MS);
      if (ended || giveUp) {
        if (stoppedFor === "cancelled" || stoppedFor === "timed_out") return result(stoppedFor);
        if (stoppedFor === "pending")
          return failed(
            spec,
            `no node of the Ray cluster could take the job within RAY_PENDING_TIMEOUT_SECONDS; it asked for ${describe(this.opts.resourcesFor(spec))}`,
            started,
          );
        if (status.status === "SUCCEEDED") return result("succeeded", 0);
        // Ray's whole message (a runtime env's pip output, the driver's last lines) goes to the log; the reason is its gist.
        for (const line of rayMessageForLog(status.message)) events.onLine("ray", line);
        // A cell that raised is the reason (the pipeline names it); otherwise Ray's.
        const failedCell = readFailedCell(spec.outputs.executed);
        return {
          ...failed(spec, rayFailureReason(status), started),
          ...(failedCell && { error: undefined, failedCell }),
          exitCode: status.driverExitCode ?? null,
        };
      }
      if (status.status === "RUNNING") runningSince ??= Date.now();
      if (status.driverNodeId && !placed) {
        placed = true;
        events.onPlaced?.({ nodeId: status.driverNodeId });
      }
      const now = Date.now();
      if (!stoppedFor) {
        if (asked.cancel) stoppedFor = "cancelled";
        else if (now - started > spec.timeoutMs) stoppedFor = "timed_out";
        else if (runningSince === undefined && now - started > this.opts.pendingTimeoutMs) stoppedFor = "pending";
        if (stoppedFor) {
          stopSentAt = Date.now();
          await this.opts.client.stop(id).catch(() => false);
          continue; // read the status again at once: a pending job ends here
        }
      }
      await this.pause(pollMs, asked, stoppedFor !== undefined);
    }
  }

  /** Wait `ms`, or less when the caller asks something first (not once a stop is under way: then only time ends it). */
  private async pause(ms: number, asked: Requests, stopping: boolean): Promise<void> {
    await (stopping ? Bun.sleep(ms) : Promise.race([Bun.sleep(ms), asked.wake]));
  }
}

/** Ray did not answer (down, unreachable, or a proxy in front saying it is unavailable): worth waiting for. */
function isSilence(e: unknown): boolean {
  return e instanceof RayUnreachableError || (e instanceof RayApiError && e.status >= 502 && e.status <= 504);
}

function describe(r: RayResources): string {
  const asked = Object.entries({ num_cpus: r.num_cpus, num_gpus: r.num_gpus, memory_mb: r.memory_mb }).filter(([, v]) => v !== undefined);
  const parts = [...asked.map(([k, v]) => `${k} ${v}`), ...Object.entries(r.resources ?? {}).map(([k, v]) => `${k} ${v}`)];
  return parts.length ? parts.join(", ") : "nothing beyond one CPU";
}

function failed(spec: RunSpec, error: string, started?: number): RunResult {
  return { status: "failed", exitCode: null, durationMs: started === undefined ? 0 : Date.now() - started, error, outputs: spec.outputs };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
