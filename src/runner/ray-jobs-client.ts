// A client of Ray's Jobs REST API (the dashboard's /api/jobs and /api/packages), in plain fetch: no Python on our
// side. What the cluster answers is treated as hostile: every body is read up to a limit, JSON is checked against
// a schema, Ray's messages (often whole Python tracebacks) are cut to their last error line. Failures come out as
// two typed errors: RayUnreachableError (nothing answered in time: the caller retries later) and RayApiError
// (Ray answered and said no, or said something we cannot use).
import { createHash } from "node:crypto";
import { z } from "zod";

/** A job's states, as Ray names them; the last three are final. */
export const RAY_JOB_STATUSES = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "STOPPED"] as const;
export type RayJobStatus = (typeof RAY_JOB_STATUSES)[number];

/** True for SUCCEEDED, FAILED and STOPPED: the job will not change any more. */
export function isFinalRayStatus(status: RayJobStatus): boolean {
  return status === "SUCCEEDED" || status === "FAILED" || status === "STOPPED";
}

/** Nothing answered: connection refused, unknown host, TLS failure, timeout, or a proxy saying the cluster is away (502/503/504). Retry later. */
export class RayUnreachableError extends Error {
  constructor(
    readonly address: string,
    why: string,
    options?: ErrorOptions,
  ) {
    super(`Ray at ${address} did not answer: ${why}`, options);
    this.name = "RayUnreachableError";
  }
}

/** Ray answered with an error status, or with a body that is too large or not what its API returns. */
export class RayApiError extends Error {
  constructor(
    /** The HTTP status of the answer (200 for an unusable body). */
    readonly status: number,
    /** Ray's own words, one line, bounded (the last error line of a traceback). */
    readonly rayMessage: string,
    /** What was asked, e.g. "POST /api/jobs/". */
    readonly request: string,
    /** The submission id was taken already (a job with it exists). */
    readonly duplicateSubmission = false,
  ) {
    super(`Ray refused ${request} (${status}): ${rayMessage}`);
    this.name = "RayApiError";
  }
}

/** What runs and what it needs. Field names are ours; submit() maps them to Ray's. */
export type RaySubmitRequest = {
  /** Chosen by the caller, unique in the cluster: submitting the same id twice is a RayApiError (duplicateSubmission). */
  submissionId: string;
  /** A shell command, run in the working dir of `runtimeEnv.working_dir`. */
  entrypoint: string;
  /** Ray's runtime_env as is: working_dir ("gcs://_ray_pkg_….zip" from uploadPackage), pip, env_vars, ... */
  runtimeEnv?: Record<string, unknown>;
  entrypointNumCpus?: number;
  entrypointNumGpus?: number;
  entrypointMemoryBytes?: number;
  /** Custom resources (e.g. {"trainer": 1}): only a node offering them runs the job. */
  entrypointResources?: Record<string, number>;
  metadata?: Record<string, string>;
};

/** A job as Ray reports it. */
export type RayJobInfo = {
  submissionId: string;
  status: RayJobStatus;
  /**
   * Ray's explanation of the status ("Job has not started yet. It may be waiting for resources…", or why it failed,
   * often with the job's last log lines), without control characters other than newlines, at most 4000 characters.
   */
  message: string;
  /** Ray's classification of a failure (e.g. "RUNTIME_ENV_SETUP_FAILED"), when there is one. */
  errorType?: string;
  /** The node running the job's driver (the entrypoint), once placed. */
  driverNodeId?: string;
  driverExitCode?: number;
  /** Milliseconds since the epoch. */
  startTime?: number;
  endTime?: number;
  entrypoint: string;
  metadata?: Record<string, string>;
};

export type RayJobsClientOptions = {
  /** The Jobs API (the dashboard), e.g. http://ray-head:8265. */
  address: string;
  /** Sent with every request (RAY_HEADERS: a cluster behind an authenticating proxy). */
  headers?: Record<string, string>;
  /** Per request, answer included (default 10 s). */
  timeoutMs?: number;
  /** For the package upload (default 120 s). */
  uploadTimeoutMs?: number;
  /** Largest JSON answer read (default 1 MiB). */
  maxResponseBytes?: number;
  /** Largest logs answer read (default 64 MiB). */
  maxLogBytes?: number;
  /** Largest package uploaded (default 512 MiB, what Ray's GCS takes by default). */
  maxPackageBytes?: number;
};

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_UPLOAD_TIMEOUT_MS = 120_000;
const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
const DEFAULT_MAX_LOG_BYTES = 64 * 1024 * 1024;
const DEFAULT_MAX_PACKAGE_BYTES = 512 * 1024 * 1024;
const MAX_MESSAGE_CHARS = 500;
const MAX_STATUS_MESSAGE_CHARS = 4000;
// Ray's SDK names a zipped working dir after the SHA-1 of its bytes (python/ray/_private/runtime_env/packaging.py).
const PACKAGE_PREFIX = "_ray_pkg_";

// With the DOM library in scope TypeScript sees the browser's constructor, which takes no headers; Bun's does.
const BunWebSocket = WebSocket as unknown as new (url: string, options: Bun.WebSocketOptions) => WebSocket;

const jobSchema = z.object({
  submission_id: z.string().max(1000),
  status: z.enum(RAY_JOB_STATUSES),
  message: z.string().nullish(),
  error_type: z.string().max(1000).nullish(),
  driver_node_id: z.string().max(1000).nullish(),
  driver_exit_code: z.number().int().nullish(),
  start_time: z.number().nullish(),
  end_time: z.number().nullish(),
  entrypoint: z.string(),
  metadata: z.record(z.string(), z.string()).nullish(),
});
const submitSchema = z.object({ submission_id: z.string().max(1000) });
const stopSchema = z.object({ stopped: z.boolean() });
const logsSchema = z.object({ logs: z.string() });
const versionSchema = z.object({ ray_version: z.string().max(200) });

/** A client of one Ray cluster's Jobs API. Every method may throw RayUnreachableError or RayApiError; none retries. */
export class RayJobsClient {
  readonly address: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly uploadTimeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly maxLogBytes: number;
  private readonly maxPackageBytes: number;

  /** Throws TypeError when `address` is not an http(s) URL. */
  constructor(opts: RayJobsClientOptions) {
    const url = new URL(opts.address);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new TypeError(`Ray address ${opts.address} is not an http(s) URL`);
    this.address = url.href.replace(/\/+$/, "");
    this.headers = { ...(opts.headers ?? {}) };
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.uploadTimeoutMs = opts.uploadTimeoutMs ?? DEFAULT_UPLOAD_TIMEOUT_MS;
    this.maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.maxLogBytes = opts.maxLogBytes ?? DEFAULT_MAX_LOG_BYTES;
    this.maxPackageBytes = opts.maxPackageBytes ?? DEFAULT_MAX_PACKAGE_BYTES;
  }

  /**
   * Upload a zipped working dir under its content-addressed name and return its URI ("gcs://_ray_pkg_<sha1>.zip",
   * for runtimeEnv.working_dir). Skips the upload when Ray already has that package (`uploaded` false); asking
   * also pins it in Ray for a while, so it is not collected before the job that uses it is submitted. Idempotent.
   * Throws RayApiError (status 413) without sending anything when the zip is larger than maxPackageBytes.
   */
  async uploadPackage(zip: Uint8Array, signal?: AbortSignal): Promise<{ uri: string; uploaded: boolean }> {
    const name = `${PACKAGE_PREFIX}${createHash("sha1").update(zip).digest("hex")}.zip`;
    const uri = `gcs://${name}`;
    const path = `/api/packages/gcs/${name}`;
    if (zip.length > this.maxPackageBytes) {
      throw new RayApiError(413, `the package is ${zip.length} bytes, more than the ${this.maxPackageBytes} allowed`, `PUT ${path}`);
    }
    const exists = await this.call("GET", path, { signal, accept: [200, 404] });
    if (exists.status === 200) return { uri, uploaded: false };
    await this.call("PUT", path, { body: zip, signal, timeoutMs: this.uploadTimeoutMs, contentType: "application/zip" });
    return { uri, uploaded: true };
  }

  /** Submit a job; returns its submission id. Throws RayApiError with duplicateSubmission when the id is taken. */
  async submit(req: RaySubmitRequest, signal?: AbortSignal): Promise<string> {
    const body = {
      entrypoint: req.entrypoint,
      submission_id: req.submissionId,
      runtime_env: req.runtimeEnv,
      entrypoint_num_cpus: req.entrypointNumCpus,
      entrypoint_num_gpus: req.entrypointNumGpus,
      entrypoint_memory: req.entrypointMemoryBytes,
      entrypoint_resources: req.entrypointResources,
      metadata: req.metadata,
    };
    const res = await this.call("POST", "/api/jobs/", { json: body, signal });
    return parse(submitSchema, res, "POST /api/jobs/").submission_id;
  }

  /** The cluster's Ray version (GET /api/version): the cheapest way to ask whether the Jobs API answers at all. */
  async version(signal?: AbortSignal): Promise<string> {
    const res = await this.call("GET", "/api/version", { signal });
    return parse(versionSchema, res, "GET /api/version").ray_version;
  }

  /** The job's status, or undefined when Ray knows no job by that id. */
  async status(submissionId: string, signal?: AbortSignal): Promise<RayJobInfo | undefined> {
    const path = `/api/jobs/${encodeURIComponent(submissionId)}`;
    const res = await this.call("GET", path, { signal, accept: [200, 404] });
    if (res.status === 404) return undefined;
    const j = parse(jobSchema, res, `GET ${path}`);
    return {
      submissionId: j.submission_id,
      status: j.status,
      message: bounded(j.message ?? "", MAX_STATUS_MESSAGE_CHARS),
      errorType: j.error_type ?? undefined,
      driverNodeId: j.driver_node_id ?? undefined,
      driverExitCode: j.driver_exit_code ?? undefined,
      startTime: j.start_time ?? undefined,
      endTime: j.end_time ?? undefined,
      entrypoint: j.entrypoint,
      metadata: j.metadata ?? undefined,
    };
  }

  /**
   * Everything the job's driver printed so far (stdout and stderr together), up to maxLogBytes of answer. It begins
   * with Ray's own lines ("… INFO job_manager.py:… -- Runtime env is setting up.", "Running entrypoint for job …").
   * Ray's API has no offset: the whole log comes every time; "" while the job is pending. Throws RayApiError 404
   * for an unknown job.
   */
  async logs(submissionId: string, signal?: AbortSignal): Promise<string> {
    const path = `/api/jobs/${encodeURIComponent(submissionId)}/logs`;
    const res = await this.call("GET", path, { signal, maxBytes: this.maxLogBytes });
    return parse(logsSchema, res, `GET ${path}`).logs;
  }

  /**
   * What the job printed after `offset` (a position returned by an earlier call, 0 at first), and the position to
   * ask from next. Sliced here, since Ray sends the whole log: `restarted` is true when the log is now shorter
   * than `offset` (then `text` is all of it).
   */
  async logsSince(submissionId: string, offset: number, signal?: AbortSignal): Promise<{ text: string; offset: number; restarted: boolean }> {
    const all = await this.logs(submissionId, signal);
    if (all.length < offset) return { text: all, offset: all.length, restarted: true };
    return { text: all.slice(offset), offset: all.length, restarted: false };
  }

  /**
   * Follow the job's log as Ray writes it (Ray's tail WebSocket, which sends the log from its start, new text within
   * about a second), handing `onText` each piece after the first `offset` characters (what the caller already has).
   * Resolves with the offset reached and `complete` true when Ray closes the stream after the job ended; `complete`
   * false when `signal` aborted or the connection dropped (then logsSince() from that offset picks up). onText must
   * not throw. Throws RayApiError 404 for an unknown job, RayUnreachableError when the stream cannot be opened in
   * time, RayApiError when one message exceeds maxResponseBytes.
   */
  async followLogs(
    submissionId: string,
    onText: (text: string) => void,
    opts: { offset?: number; signal?: AbortSignal } = {},
  ): Promise<{ offset: number; complete: boolean }> {
    // The upgrade's status is not visible through a WebSocket: ask first, so an unknown job is a 404 and not silence.
    if ((await this.status(submissionId, opts.signal)) === undefined) {
      throw new RayApiError(404, `Job ${submissionId} does not exist`, `GET /api/jobs/${encodeURIComponent(submissionId)}/logs/tail`);
    }
    const path = `/api/jobs/${encodeURIComponent(submissionId)}/logs/tail`;
    const url = `${this.address.replace(/^http/, "ws")}${path}`;
    const skip = opts.offset ?? 0;
    let seen = 0;
    return new Promise((resolve, reject) => {
      // Bun's client (1.4.5) drops every message of Ray's aiohttp server when compression is negotiated.
      const ws = new BunWebSocket(url, { headers: this.headers, perMessageDeflate: false });
      let opened = false;
      let settled = false;
      const finish = (complete: boolean, error?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(openTimer);
        opts.signal?.removeEventListener("abort", onAbort);
        if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close();
        if (error) reject(error);
        else resolve({ offset: Math.max(seen, skip), complete });
      };
      const onAbort = () => finish(false);
      opts.signal?.addEventListener("abort", onAbort);
      if (opts.signal?.aborted) return finish(false);
      const openTimer = setTimeout(
        () => finish(false, new RayUnreachableError(this.address, `no answer to GET ${path} within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      ws.onopen = () => {
        opened = true;
        clearTimeout(openTimer);
      };
      ws.onmessage = (ev) => {
        const text = typeof ev.data === "string" ? ev.data : new TextDecoder().decode(ev.data as ArrayBuffer);
        if (text.length > this.maxResponseBytes) {
          return finish(false, new RayApiError(200, `a log message of ${text.length} characters, more than the ${this.maxResponseBytes} read`, `GET ${path}`));
        }
        const start = seen;
        seen += text.length;
        if (seen <= skip) return;
        try {
          onText(start >= skip ? text : text.slice(skip - start));
        } catch {
          // The caller's handler must not throw; its failure must not end the stream either.
        }
      };
      ws.onerror = () => {
        if (!opened) finish(false, new RayUnreachableError(this.address, `GET ${path} (WebSocket) could not be opened`));
      };
      // Ray closes normally (1000) once the job has ended and the last lines were sent.
      ws.onclose = (ev) => {
        if (!opened) return finish(false, new RayUnreachableError(this.address, `GET ${path} (WebSocket) closed before it opened (${ev.code})`));
        finish(ev.code === 1000);
      };
    });
  }

  /**
   * Ask Ray to stop the job: true when Ray took the request, false when the job had ended already or is unknown.
   * Ray stops a job through its supervisor: a PENDING job that no node can take answers true yet stays PENDING
   * (until Ray's RAY_JOB_START_TIMEOUT_SECONDS, 15 minutes by default, fails it); the caller records that end itself.
   */
  async stop(submissionId: string, signal?: AbortSignal): Promise<boolean> {
    const path = `/api/jobs/${encodeURIComponent(submissionId)}/stop`;
    const res = await this.call("POST", path, { signal, accept: [200, 404] });
    if (res.status === 404) return false;
    return parse(stopSchema, res, `POST ${path}`).stopped;
  }

  /** The job's page on the Ray dashboard (for people; the dashboard serves the Jobs API and its pages together). */
  dashboardUrl(submissionId: string): string {
    return `${this.address}/#/jobs/${encodeURIComponent(submissionId)}`;
  }

  private async call(
    method: string,
    path: string,
    opts: {
      json?: unknown;
      body?: Uint8Array;
      contentType?: string;
      signal?: AbortSignal;
      timeoutMs?: number;
      maxBytes?: number;
      accept?: number[];
    } = {},
  ): Promise<{ status: number; text: string }> {
    const what = `${method} ${path}`;
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    const headers: Record<string, string> = { ...this.headers };
    let body: BodyInit | undefined;
    if (opts.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(opts.json);
    } else if (opts.body !== undefined) {
      headers["content-type"] = opts.contentType ?? "application/octet-stream";
      body = opts.body as Uint8Array<ArrayBuffer>;
    }
    let status: number;
    let text: string;
    try {
      const res = await fetch(`${this.address}${path}`, { method, headers, body, signal, redirect: "manual" });
      status = res.status;
      text = await readBounded(res, opts.maxBytes ?? this.maxResponseBytes, what, status);
    } catch (e) {
      // The caller's own abort is theirs to handle, not a fault of the cluster.
      if (opts.signal?.aborted) throw opts.signal.reason ?? e;
      if (e instanceof RayApiError) throw e;
      if (timeout.aborted) throw new RayUnreachableError(this.address, `no answer to ${what} within ${timeoutMs} ms`, { cause: e });
      throw new RayUnreachableError(this.address, `${what} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    if (status === 502 || status === 503 || status === 504) {
      throw new RayUnreachableError(this.address, `${what} answered ${status}: ${rayMessage(text)}`);
    }
    if (status === 200 || opts.accept?.includes(status)) return { status, text };
    const message = rayMessage(text);
    throw new RayApiError(status, message, what, method === "POST" && path === "/api/jobs/" && /already exists/i.test(message));
  }
}

/** The body as text, refusing (RayApiError) past `maxBytes` without reading further. */
async function readBounded(res: Response, maxBytes: number, what: string, status: number): Promise<string> {
  const declared = Number(res.headers.get("content-length") ?? Number.NaN);
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new RayApiError(status, `the answer is ${declared} bytes, more than the ${maxBytes} read`, what);
  }
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > maxBytes) {
      await reader.cancel();
      throw new RayApiError(status, `the answer is more than the ${maxBytes} bytes read`, what);
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

function parse<T>(schema: z.ZodType<T>, res: { status: number; text: string }, what: string): T {
  let data: unknown;
  try {
    data = JSON.parse(res.text);
  } catch {
    throw new RayApiError(res.status, `the answer is not JSON: ${oneLine(res.text)}`, what);
  }
  const checked = schema.safeParse(data);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new RayApiError(res.status, `the answer is not what Ray's Jobs API returns (${issue?.path.join(".") || "body"}: ${issue?.message})`, what);
  }
  return checked.data;
}

/**
 * Ray's error text in one line: its answers are often Python tracebacks (nested, when the head relays an agent's
 * error), whose last "SomethingError: ..." line says what happened.
 */
function rayMessage(text: string): string {
  const lines = text.split("\n").map((l) => l.trim());
  const errorLine = lines.findLast((l) => /^[A-Za-z_][\w.]*(Error|Exception): \S/.test(l));
  if (errorLine) return oneLine(errorLine.replace(/^[\w.]+: /, ""));
  return oneLine(lines.findLast((l) => l !== "") ?? "") || "(no message)";
}

/** Control characters out, whitespace folded, at most MAX_MESSAGE_CHARS: safe to store and show. */
function oneLine(s: string): string {
  return cut(s.replace(CONTROL, " ").replace(/\s+/g, " ").trim(), MAX_MESSAGE_CHARS);
}

/** Lines kept, other control characters out, at most `max` characters. */
function bounded(s: string, max: number): string {
  return cut(s.replace(/\r\n?/g, "\n").replace(CONTROL_BUT_NEWLINE, " ").trim(), max);
}

function cut(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
const CONTROL = /[\u0000-\u001f\u007f]+/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
const CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f]+/g;
