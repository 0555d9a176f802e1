// What Ray says, made readable in a pipeline: its own lines in a job's log told apart from the notebook's, and a
// failed job's message (often a Python traceback of Ray's internals ending in pip's words) cut to the reason a user
// can act on. The whole message still goes to the log.
import type { RayJobInfo } from "./ray-jobs-client.ts";

/** The longest reason kept (the pipeline's error line). */
const MAX_REASON_CHARS = 600;

// Ray's job supervisor writes its own lines into the job's log before the entrypoint's output:
// "2026-12-05 20:20:36,666\tINFO job_manager.py:581 -- Runtime env is setting up." and
// "Running entrypoint for job mlops-3-1: python ray_job.py".
const RAY_LOG_LINE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\s+(DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+\.py:\d+ -- /;
const RAY_ENTRYPOINT_LINE = /^Running entrypoint for job \S+: /;
// A job whose entrypoint exited non-zero: Ray's first line, then the log's tail.
const ENTRYPOINT_FAILED = /^Job entrypoint command failed with exit code (-?\d+)/;

/** Whether a line of a job's log is Ray's own (its supervisor setting the job up), not the job's output. */
export function isRaySetupLine(line: string): boolean {
  return RAY_LOG_LINE.test(line) || RAY_ENTRYPOINT_LINE.test(line);
}

/**
 * The lines of Ray's message worth adding to the pipeline's log: all of it, but for an entrypoint that exited
 * non-zero, whose message repeats the log's tail, its first line alone.
 */
export function rayMessageForLog(message: string): string[] {
  const lines = message.split("\n").filter((l) => l.trim());
  return lines[0] && ENTRYPOINT_FAILED.test(lines[0]) ? [lines[0]] : lines;
}

/**
 * Why a job Ray failed or stopped, in one line: for a runtime environment that could not be built, what pip (or
 * the runtime env agent) said, not the traceback around it; for an entrypoint that exited non-zero, the job script's
 * last own line ("mlops: upload failed: …") or else the log's last line; otherwise the first line of Ray's message.
 */
export function rayFailureReason(job: Pick<RayJobInfo, "status" | "message" | "errorType">): string {
  const lines = job.message
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const what = `the Ray job ${job.status.toLowerCase()}`;
  if (!lines.length) return `${what}: no reason given`;
  if (job.errorType?.startsWith("RUNTIME_ENV_SETUP") || /^runtime_env setup failed/i.test(lines[0]!)) {
    const pip = lines.filter((l) => l.startsWith("ERROR: "));
    const said = pip.length ? pip.join(" ") : lines.at(-1)!;
    return cut(`Ray could not set up the job's runtime environment (the requirements.txt it installs with pip): ${said}`);
  }
  const exited = ENTRYPOINT_FAILED.exec(lines[0]!);
  if (exited) {
    const last = lines.filter((l) => l.startsWith("mlops: ")).at(-1) ?? lines.slice(1).at(-1);
    return cut(`the notebook's Ray job exited with code ${exited[1]}${last ? `: ${last}` : ""}`);
  }
  return cut(`${what}: ${lines[0]}`);
}

function cut(text: string): string {
  return text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS - 1)}…` : text;
}
