// A typed client for the MLflow tracking server's REST API 2.0 (experiments, runs, proxied artifacts, model registry).
// Plain fetch, one timeout per request. Transport failures, timeouts and 5xx/429 answers are TransientError (the durable
// queue retries them); any other error answer is MlflowError carrying MLflow's error_code.
import { TransientError } from "../lib/errors.ts";
import { redactUrl, splitUrlCredentials } from "../lib/redact-url.ts";

/** MLflow answered with an error ({error_code, message}); status is the HTTP status. */
export class MlflowError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "MlflowError";
  }
}

export type MlflowRun = {
  runId: string;
  experimentId: string;
  artifactUri: string;
  status: string;
  metrics: Record<string, number>;
  params: Record<string, string>;
  tags: Record<string, string>;
};

export type MlflowModelVersion = { name: string; version: string; runId: string; source: string; tags: Record<string, string> };

type KeyValue = { key: string; value: string };
type WireMetric = { key: string; value: number | string; timestamp?: number | string; step?: number | string };
type WireRun = {
  info: { run_id: string; experiment_id: string; artifact_uri?: string; status?: string };
  data?: { metrics?: WireMetric[]; params?: KeyValue[]; tags?: KeyValue[] };
};
type WireModelVersion = { name: string; version: string; run_id?: string; source?: string; tags?: KeyValue[] };
type Query = Record<string, string | undefined>;

// MLflow's log-batch limits (mlflow/utils/validation.py): per call 1000 metrics, 100 params, 100 tags, 1000 entities
// in all, and a request body under 1 MB (we keep a margin for the JSON around the entries).
const BATCH_MAX_METRICS = 1000;
const BATCH_MAX_PARAMS = 100;
const BATCH_MAX_TAGS = 100;
const BATCH_MAX_ENTITIES = 1000;
const BATCH_MAX_BYTES = 900_000;

const API = "/api/2.0/mlflow";
const ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts";

export class MlflowClient {
  readonly baseUrl: string;
  /** `baseUrl` without credentials: what messages, links and stored records show. */
  readonly shownUrl: string;
  private readonly timeoutMs: number;

  /** `baseUrl` is the tracking server (e.g. http://127.0.0.1:5000); `timeoutMs` bounds each request (default 5000). */
  constructor(baseUrl: string, opts: { timeoutMs?: number } = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.shownUrl = redactUrl(this.baseUrl);
    this.timeoutMs = opts.timeoutMs ?? 5000;
  }

  /** The id of the experiment named `name`, created when missing; idempotent and safe against a concurrent create. Throws MlflowError when it exists but is deleted. */
  async getOrCreateExperiment(name: string): Promise<string> {
    const existing = await this.experimentIdByName(name);
    if (existing) return existing;
    try {
      const res = await this.post<{ experiment_id: string }>("/experiments/create", { name });
      return res.experiment_id;
    } catch (e) {
      if (!(e instanceof MlflowError && e.code === "RESOURCE_ALREADY_EXISTS")) throw e;
      // Someone else created it between our get and our create.
      const id = await this.experimentIdByName(name);
      if (!id) throw e;
      return id;
    }
  }

  private async experimentIdByName(name: string): Promise<string | undefined> {
    try {
      const res = await this.get<{ experiment: { experiment_id: string; lifecycle_stage?: string } }>("/experiments/get-by-name", {
        experiment_name: name,
      });
      if (res.experiment.lifecycle_stage === "deleted") {
        throw new MlflowError(
          400,
          "INVALID_STATE",
          `MLflow experiment "${name}" (id ${res.experiment.experiment_id}) is deleted: restore it in MLflow or use another name`,
        );
      }
      return res.experiment.experiment_id;
    } catch (e) {
      if (e instanceof MlflowError && e.code === "RESOURCE_DOES_NOT_EXIST") return undefined;
      throw e;
    }
  }

  /** Create a run (status RUNNING) in the experiment; `startTime` defaults to now (ms). Not idempotent: each call is a new run. */
  async createRun(experimentId: string, opts: { runName?: string; tags?: Record<string, string>; startTime?: number } = {}): Promise<MlflowRun> {
    const res = await this.post<{ run: WireRun }>("/runs/create", {
      experiment_id: experimentId,
      run_name: opts.runName,
      start_time: opts.startTime ?? Date.now(),
      tags: keyValues(opts.tags),
    });
    return toRun(res.run);
  }

  /** The run with its latest value per metric key; MlflowError RESOURCE_DOES_NOT_EXIST when unknown. */
  async getRun(runId: string): Promise<MlflowRun> {
    const res = await this.get<{ run: WireRun }>("/runs/get", { run_id: runId });
    return toRun(res.run);
  }

  /**
   * Log metrics, params and tags, split into as many log-batch calls as MLflow's limits need. Params are write-once:
   * logging the same value again is fine, a different one is MlflowError INVALID_PARAMETER_VALUE. Metric timestamps
   * default to now and steps to 0; a retry appends the metric values again (their latest value stays the same).
   */
  async logBatch(
    runId: string,
    data: { metrics?: { key: string; value: number; timestamp?: number; step?: number }[]; params?: Record<string, string>; tags?: Record<string, string> },
  ): Promise<void> {
    const now = Date.now();
    const entries: { kind: "params" | "tags" | "metrics"; entry: object; bytes: number }[] = [];
    const add = (kind: "params" | "tags" | "metrics", entry: object) => entries.push({ kind, entry, bytes: Buffer.byteLength(JSON.stringify(entry)) + 1 });
    for (const p of keyValues(data.params)) add("params", p);
    for (const t of keyValues(data.tags)) add("tags", t);
    for (const m of data.metrics ?? []) {
      // JSON has no NaN/Infinity; MLflow's protobuf JSON parser takes them as strings.
      const value = Number.isFinite(m.value) ? m.value : String(m.value);
      add("metrics", { key: m.key, value, timestamp: m.timestamp ?? now, step: m.step ?? 0 });
    }
    const limits = { params: BATCH_MAX_PARAMS, tags: BATCH_MAX_TAGS, metrics: BATCH_MAX_METRICS };
    let call = { params: [] as object[], tags: [] as object[], metrics: [] as object[] };
    let count = 0;
    let bytes = 0;
    const flush = async () => {
      if (count === 0) return;
      await this.post("/runs/log-batch", { run_id: runId, ...call });
      call = { params: [], tags: [], metrics: [] };
      count = 0;
      bytes = 0;
    };
    for (const e of entries) {
      if (call[e.kind].length >= limits[e.kind] || count >= BATCH_MAX_ENTITIES || (count > 0 && bytes + e.bytes > BATCH_MAX_BYTES)) await flush();
      call[e.kind].push(e.entry);
      count++;
      bytes += e.bytes;
    }
    await flush();
  }

  /** Upload bytes to `path` (may contain "/") under the run's artifact root, through the server's mlflow-artifacts proxy; overwrites. */
  async uploadArtifact(run: Pick<MlflowRun, "artifactUri">, path: string, body: Uint8Array): Promise<void> {
    const url = this.artifactUrl(run.artifactUri, path);
    // fetch's typings refuse a Uint8Array that might view a SharedArrayBuffer; callers pass ordinary buffers.
    const res = await this.send("PUT", url, body as Uint8Array<ArrayBuffer>, "application/octet-stream");
    await this.json(res, "PUT", url);
  }

  /** The bytes of the artifact at `path` under the run's artifact root; MlflowError when it does not exist. */
  async downloadArtifact(run: Pick<MlflowRun, "artifactUri">, path: string): Promise<Uint8Array> {
    const url = this.artifactUrl(run.artifactUri, path);
    const res = await this.send("GET", url);
    if (!res.ok) await this.json(res, "GET", url);
    try {
      return new Uint8Array(await res.arrayBuffer());
    } catch (e) {
      throw this.transient("GET", url, e);
    }
  }

  /**
   * The artifact at `path` under the run's artifact root as a stream, for reading a large file without holding it
   * (MlflowError when it does not exist, TransientError when MLflow cannot be reached). The request's timeout covers
   * the whole read; `signal` also aborts it. The caller reads the stream to its end or cancels it.
   */
  async openArtifact(run: Pick<MlflowRun, "artifactUri">, path: string, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const url = this.artifactUrl(run.artifactUri, path);
    const res = await this.send("GET", url, undefined, undefined, signal);
    if (!res.ok) await this.json(res, "GET", url);
    if (!res.body) throw new MlflowError(res.status, "INVALID_RESPONSE", `MLflow at ${this.shownUrl} answered GET ${new URL(url).pathname} without a body`);
    return res.body;
  }

  /** The files and directories directly under `path` (default: the run's artifact root), with paths relative to that root. */
  async listArtifacts(runId: string, path?: string): Promise<{ path: string; isDir: boolean; fileSize?: number }[]> {
    const out: { path: string; isDir: boolean; fileSize?: number }[] = [];
    let pageToken: string | undefined;
    do {
      const res = await this.get<{ files?: { path: string; is_dir?: boolean; file_size?: number | string }[]; next_page_token?: string }>("/artifacts/list", {
        run_id: runId,
        path,
        page_token: pageToken,
      });
      for (const f of res.files ?? []) {
        out.push({ path: f.path, isDir: f.is_dir ?? false, ...(f.file_size !== undefined ? { fileSize: Number(f.file_size) } : {}) });
      }
      pageToken = res.next_page_token || undefined;
    } while (pageToken);
    return out;
  }

  /** Set the run's terminal status and end time (default now, ms). Idempotent. */
  async endRun(runId: string, status: "FINISHED" | "FAILED" | "KILLED", endTime?: number): Promise<void> {
    await this.post("/runs/update", { run_id: runId, status, end_time: endTime ?? Date.now() });
  }

  /** Create the registered model `name`; already existing is fine (idempotent). */
  async ensureRegisteredModel(name: string): Promise<void> {
    try {
      await this.post("/registered-models/create", { name });
    } catch (e) {
      if (!(e instanceof MlflowError && e.code === "RESOURCE_ALREADY_EXISTS")) throw e;
    }
  }

  /** Register a new version of model `name` from `source` (e.g. the run's artifactUri + "/model"); each call is a new version. */
  async createModelVersion(
    name: string,
    opts: { source: string; runId: string; tags?: Record<string, string>; description?: string },
  ): Promise<MlflowModelVersion> {
    const res = await this.post<{ model_version: WireModelVersion }>("/model-versions/create", {
      name,
      source: opts.source,
      run_id: opts.runId,
      tags: keyValues(opts.tags),
      description: opts.description,
    });
    return toModelVersion(res.model_version);
  }

  /** Every version of model `name`, oldest first; empty when the model has none or does not exist. */
  async searchModelVersions(name: string): Promise<MlflowModelVersion[]> {
    const out: MlflowModelVersion[] = [];
    let pageToken: string | undefined;
    do {
      const res = await this.get<{ model_versions?: WireModelVersion[]; next_page_token?: string }>("/model-versions/search", {
        filter: `name=${quote(name)}`,
        page_token: pageToken,
      });
      out.push(...(res.model_versions ?? []).map(toModelVersion));
      pageToken = res.next_page_token || undefined;
    } while (pageToken);
    return out.sort((a, b) => Number(a.version) - Number(b.version));
  }

  /** Point `alias` of model `name` at `version` (moving it if set elsewhere). Idempotent. */
  async setAlias(name: string, alias: string, version: string): Promise<void> {
    await this.post("/registered-models/alias", { name, alias, version });
  }

  /** Remove `alias` from model `name`; an alias (or model) that does not exist is fine. */
  async deleteAlias(name: string, alias: string): Promise<void> {
    const url = `${this.baseUrl}${API}/registered-models/alias`;
    try {
      await this.json(await this.send("DELETE", url, JSON.stringify({ name, alias }), "application/json"), "DELETE", url);
    } catch (e) {
      if (!(e instanceof MlflowError && (e.code === "RESOURCE_DOES_NOT_EXIST" || e.code === "INVALID_PARAMETER_VALUE"))) throw e;
    }
  }

  /** The version `alias` of model `name` points at; undefined when the alias or the model does not exist. */
  async versionByAlias(name: string, alias: string): Promise<MlflowModelVersion | undefined> {
    try {
      const res = await this.get<{ model_version: WireModelVersion }>("/registered-models/alias", { name, alias });
      return toModelVersion(res.model_version);
    } catch (e) {
      // MLflow answers a missing alias with 400 INVALID_PARAMETER_VALUE, an unknown model with 404.
      if (e instanceof MlflowError && (e.code === "INVALID_PARAMETER_VALUE" || e.code === "RESOURCE_DOES_NOT_EXIST")) return undefined;
      throw e;
    }
  }

  /** The names of every registered model. */
  async registeredModelNames(): Promise<string[]> {
    const names: string[] = [];
    let pageToken: string | undefined;
    do {
      const res = await this.get<{ registered_models?: { name: string }[]; next_page_token?: string }>("/registered-models/search", {
        max_results: "1000",
        page_token: pageToken,
      });
      names.push(...(res.registered_models ?? []).map((m) => m.name));
      pageToken = res.next_page_token || undefined;
    } while (pageToken);
    return names;
  }

  /** The run's page in MLflow's UI. */
  runUrl(run: Pick<MlflowRun, "experimentId" | "runId">): string {
    // A link a person clicks: without credentials (the browser asks for them), not with a redacted placeholder.
    return `${splitUrlCredentials(this.baseUrl).url.replace(/\/+$/, "")}/#/experiments/${encodeURIComponent(run.experimentId)}/runs/${encodeURIComponent(run.runId)}`;
  }

  /** The proxy URL of `path` under a run's artifact root; throws for roots the proxy does not serve (s3://, file paths). */
  private artifactUrl(artifactUri: string, path: string): string {
    let root: string;
    if (artifactUri.startsWith("mlflow-artifacts:")) {
      // mlflow-artifacts:/<exp>/<run>/artifacts, or with an authority: mlflow-artifacts://host:port/<exp>/...
      root = artifactUri.replace(/^mlflow-artifacts:(\/\/[^/]*)?/, "");
      root = `${this.baseUrl}${ARTIFACTS_API}/${root.replace(/^\/+/, "")}`;
    } else if (/^https?:\/\//.test(artifactUri) && artifactUri.includes(`${ARTIFACTS_API}/`)) {
      root = artifactUri;
    } else {
      throw new Error(
        `cannot reach artifact root ${artifactUri} through MLflow at ${this.shownUrl}: start the server with --artifacts-destination (proxied artifacts)`,
      );
    }
    const rel = path
      .split("/")
      .filter((s) => s !== "")
      .map(encodeURIComponent)
      .join("/");
    return `${root.replace(/\/+$/, "")}/${rel}`;
  }

  private async get<T>(endpoint: string, query: Query): Promise<T> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, v);
    const url = `${this.baseUrl}${API}${endpoint}?${params}`;
    return this.json<T>(await this.send("GET", url), "GET", url);
  }

  private async post<T = unknown>(endpoint: string, body: object): Promise<T> {
    const url = `${this.baseUrl}${API}${endpoint}`;
    return this.json<T>(await this.send("POST", url, JSON.stringify(body), "application/json"), "POST", url);
  }

  /** One request; transport failures and timeouts become TransientError. No Origin header: MLflow's middleware blocks cross-origin writes. */
  private async send(method: string, url: string, body?: string | Uint8Array<ArrayBuffer>, contentType?: string, signal?: AbortSignal): Promise<Response> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    try {
      return await fetch(url, {
        method,
        body,
        headers: contentType ? { "Content-Type": contentType } : undefined,
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
      });
    } catch (e) {
      throw this.transient(method, url, e);
    }
  }

  /** Decode a JSON answer, mapping error statuses: 5xx/429 → TransientError, other 4xx → MlflowError. */
  private async json<T>(res: Response, method: string, url: string): Promise<T> {
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      throw this.transient(method, url, e);
    }
    let parsed: unknown;
    try {
      parsed = text === "" ? {} : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const where = `${method} ${new URL(url).pathname}`;
    if (res.status >= 500 || res.status === 429) {
      const detail = errorMessage(parsed) ?? snippet(text);
      throw new TransientError(`MLflow at ${this.shownUrl} answered ${res.status} to ${where}${detail ? `: ${detail}` : ""}`);
    }
    if (!res.ok) {
      const body = (parsed ?? {}) as { error_code?: unknown };
      const code = typeof body.error_code === "string" ? body.error_code : `HTTP_${res.status}`;
      throw new MlflowError(res.status, code, `MLflow ${where} failed (${res.status} ${code}): ${errorMessage(parsed) ?? snippet(text)}`);
    }
    if (parsed === undefined)
      throw new MlflowError(res.status, "INVALID_RESPONSE", `MLflow at ${this.shownUrl} answered ${where} with non-JSON: ${snippet(text)}`);
    return parsed as T;
  }

  private transient(method: string, url: string, e: unknown): TransientError {
    const err = e as { name?: string; code?: string; message?: string };
    let what: string;
    if (err.name === "TimeoutError") what = `no answer within ${this.timeoutMs} ms`;
    else if (err.code === "ConnectionRefused" || err.code === "ECONNREFUSED") what = "connection refused";
    else what = err.message ?? String(e);
    return new TransientError(`MLflow at ${this.shownUrl} is unreachable: ${redactUrl(what)} (${method} ${new URL(url).pathname})`, { cause: e });
  }
}

function keyValues(rec: Record<string, string> | undefined): KeyValue[] {
  return Object.entries(rec ?? {}).map(([key, value]) => ({ key, value }));
}

function fromKeyValues(list: KeyValue[] | undefined): Record<string, string> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, kv.value ?? ""]));
}

function toRun(w: WireRun): MlflowRun {
  // runs/get already reports the latest value per key; keep the highest (step, timestamp) in case a key repeats.
  const latest = new Map<string, WireMetric>();
  for (const m of w.data?.metrics ?? []) {
    const prev = latest.get(m.key);
    const newer =
      !prev ||
      Number(m.step ?? 0) > Number(prev.step ?? 0) ||
      (Number(m.step ?? 0) === Number(prev.step ?? 0) && Number(m.timestamp ?? 0) >= Number(prev.timestamp ?? 0));
    if (newer) latest.set(m.key, m);
  }
  return {
    runId: w.info.run_id,
    experimentId: w.info.experiment_id,
    artifactUri: w.info.artifact_uri ?? "",
    status: w.info.status ?? "",
    metrics: Object.fromEntries([...latest].map(([k, m]) => [k, Number(m.value)])),
    params: fromKeyValues(w.data?.params),
    tags: fromKeyValues(w.data?.tags),
  };
}

function toModelVersion(w: WireModelVersion): MlflowModelVersion {
  return { name: w.name, version: String(w.version), runId: w.run_id ?? "", source: w.source ?? "", tags: fromKeyValues(w.tags) };
}

/** A string literal for MLflow's search filter grammar. */
function quote(s: string): string {
  if (!s.includes("'")) return `'${s}'`;
  if (!s.includes('"')) return `"${s}"`;
  throw new Error(`model name ${JSON.stringify(s)} holds both quote characters and cannot be searched`);
}

function errorMessage(parsed: unknown): string | undefined {
  const m = (parsed as { message?: unknown } | undefined)?.message;
  return typeof m === "string" ? m : undefined;
}

function snippet(text: string): string {
  const t = text.replace(/\s+/g, " ").trim();
  return t.length > 200 ? `${t.slice(0, 200)}…` : t;
}
