// Environment → typed, validated Config (docs/settings.md). A bad value stops start-up with one line per variable.
import { accessSync, constants, existsSync, mkdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { ConfigError } from "./lib/errors.ts";

const bool = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ["true", "false", "1", "0", "yes", "no"].includes(v), "must be true or false")
  .transform((v) => v === "true" || v === "1" || v === "yes");

const int = (min: number, max: number, what: string) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `must be ${what}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be ${what}`);

/** An http(s) URL, or empty. */
const url = (what: string) =>
  z
    .string()
    .trim()
    .refine((v) => v === "" || /^https?:$/.test(URL.parse(v)?.protocol ?? ""), `must be ${what}, or empty`);

function isStringRecord(text: string): boolean {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === "object" && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === "string");
  } catch {
    return false;
  }
}

const schema = z.object({
  PORT: int(0, 65535, "a whole number from 0 to 65535 (0 picks a free port)").default(8000),
  HOST: z.string().trim().min(1, "must be a host name or address").default("0.0.0.0"),
  DATA_DIR: z.string().trim().min(1, "must be a directory path").default("./data"),
  DATABASE_URL: z
    .string()
    .trim()
    .refine((v) => v === "" || v.startsWith("sqlite:///"), "must be sqlite:///<path> (only SQLite is supported)")
    .default(""),
  GITHUB_WEBHOOK_SECRET: z.string().default(""),
  GITHUB_TOKEN: z.string().trim().default(""),
  GITHUB_API_URL: url("an http(s) URL").default("https://api.github.com"),
  MLFLOW_TRACKING_URI: url("an http(s) URL of an MLflow server").default(""),
  AUTO_DEPLOY_ON_SUCCESS: bool.default(true),
  MIN_ACCURACY_THRESHOLD: z
    .string()
    .trim()
    .refine((v) => v !== "" && Number.isFinite(Number(v)) && Number(v) >= 0 && Number(v) <= 1, "must be a number from 0 to 1")
    .transform(Number)
    .default(0.7),
  WORKER_CONCURRENCY: int(1, 64, "a whole number from 1 to 64").optional(),
  PIPELINE_TIMEOUT_SECONDS: int(1, 7 * 24 * 3600, "a whole number of seconds from 1 to 604800").default(3600),
  // How long running notebooks may go on after SIGTERM/SIGINT before they are stopped and queued again (0: at once).
  SHUTDOWN_GRACE_SECONDS: int(0, 24 * 3600, "a whole number of seconds from 0 to 86400").default(30),
  RUNNER_BACKEND: z.enum(["local", "ray"], { error: "must be local or ray" }).default("local"),
  // The Ray cluster's Jobs API (its dashboard address), for RUNNER_BACKEND=ray.
  RAY_ADDRESS: url("an http(s) URL such as http://ray-head:8265").default(""),
  // Extra headers for every request to Ray (a cluster behind an authenticating proxy): a JSON object of strings.
  RAY_HEADERS: z
    .string()
    .trim()
    .refine((v) => v === "" || isStringRecord(v), 'must be a JSON object of header names to string values, such as {"Authorization": "Bearer …"}')
    .default(""),
  RAY_PENDING_TIMEOUT_SECONDS: int(1, 7 * 24 * 3600, "a whole number of seconds from 1 to 604800").default(600),
  RAY_LOST_TIMEOUT_SECONDS: int(1, 24 * 3600, "a whole number of seconds from 1 to 86400").default(120),
  ADMIN_TOKEN: z
    .string()
    .trim()
    .refine((v) => v === "" || v.length >= 16, "must be at least 16 characters, or empty to generate one")
    .default(""),
  // When set, predictions (/models/*, /v2/* but its health probes) and /metrics need it (or the admin token) as a Bearer token.
  PREDICT_TOKEN: z
    .string()
    .trim()
    .refine((v) => v === "" || v.length >= 16, "must be at least 16 characters, or empty to leave predictions open")
    .default(""),
  FRONTEND_URL: url("an http(s) origin such as http://localhost:3000").default(""),
  PUBLIC_URL: url("an http(s) URL such as https://mlops.example.com").default(""),
  PYTHON: z.string().trim().default(""),
  PAPERMILL: z.string().trim().default(""),
  UV: z.string().trim().default(""),
  ENV_ALLOW_SDIST: bool.default(false),
  ENV_RETENTION_DAYS: int(1, 36_500, "a whole number of days from 1 to 36500").default(30),
  // Logs, work dirs and executed notebooks of pipelines that ended this many days ago are deleted (0: keep everything).
  RETENTION_DAYS: int(0, 36_500, "a whole number of days from 0 to 36500 (0 keeps everything)").default(30),
  ENV_BUILD_TIMEOUT_SECONDS: int(10, 86_400, "a whole number of seconds from 10 to 86400").default(900),
  MAX_BATCH_ROWS: int(1, 10_000_000, "a whole number of rows from 1 to 10000000").default(10_000),
  MAX_REQUEST_BYTES: int(1024, 2 * 1024 ** 3, "a whole number of bytes from 1024 to 2147483648").default(10 * 1024 * 1024),
  // Largest body of a pipeline's artifact upload (POST /api/pipelines/{id}/artifacts: model, metrics, executed notebook).
  MAX_ARTIFACT_BYTES: int(1024, 1024 ** 4, "a whole number of bytes from 1024 to 1099511627776").default(2 * 1024 ** 3),
  NOTEBOOK_SANDBOX: z.enum(["auto", "bwrap", "off"], { error: "must be auto, bwrap or off" }).default("auto"),
  NOTEBOOK_NETWORK: z.enum(["on", "off"], { error: "must be on or off" }).default("on"),
  NOTEBOOK_MEMORY_MB: int(64, 16 * 1024 * 1024, "a whole number of MB from 64 to 16777216").default(8192),
  NOTEBOOK_MAX_PROCESSES: int(16, 1_000_000, "a whole number from 16 to 1000000").default(1024),
  NOTEBOOK_MAX_FILE_MB: int(1, 16 * 1024 * 1024, "a whole number of MB from 1 to 16777216").default(4096),
  NOTEBOOK_LOG_MAX_BYTES: int(1024, 2 * 1024 ** 3, "a whole number of bytes from 1024 to 2147483648").default(20 * 1024 * 1024),
  NOTEBOOK_LOG_LINE_MAX_CHARS: int(80, 1024 * 1024, "a whole number of characters from 80 to 1048576").default(10_000),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"], { error: "must be debug, info, warn, error or silent" }).default("info"),
});

export type Config = {
  port: number;
  host: string;
  dataDir: string;
  databasePath: string;
  githubWebhookSecret: string;
  githubToken: string;
  githubApiUrl: string;
  mlflowTrackingUri: string;
  autoDeployOnSuccess: boolean;
  minAccuracyThreshold: number;
  workerConcurrency: number;
  pipelineTimeoutSeconds: number;
  /** Seconds running notebooks may go on after a stop signal before they are stopped and queued again. */
  shutdownGraceSeconds: number;
  /** Days after its end a pipeline's log, work dir and executed notebook are deleted; 0 keeps them. */
  retentionDays: number;
  runnerBackend: "local" | "ray";
  /**
   * RUNNER_BACKEND=ray: where the cluster's Jobs API is, extra headers, how long a job may wait for a node, and how
   * long a running job's cluster may stay silent before its pipeline fails.
   */
  ray: { address: string; headers: Record<string, string>; pendingTimeoutSeconds: number; lostTimeoutSeconds: number };
  adminToken: string;
  /** Bearer token for predictions and /metrics; "" leaves them open. */
  predictToken: string;
  frontendUrl: string;
  /** The address people reach this server at, without trailing slash ("" when unset): links in GitHub commit statuses. */
  publicUrl: string;
  python: string;
  papermill: string;
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
  /** Most rows (first dimension) one prediction request may carry; more → 413. */
  maxBatchRows: number;
  /** Largest prediction request body in bytes; larger → 413. */
  maxRequestBytes: number;
  /** Largest artifact upload body in bytes (model, metrics and executed notebook together); larger → 413. */
  maxArtifactBytes: number;
  /** What notebooks (and the joblib converter) run under; see src/sandbox/. */
  notebook: NotebookSettings;
  /** Per-repository Python environments (a requirements.txt beside the notebook); see src/environments/. */
  environments: EnvironmentSettings;
};

/** How per-repository environments are built and kept. */
export type EnvironmentSettings = {
  /** The uv executable that builds them. */
  uv: string;
  /** Whether source distributions may be built (running their build code); wheels only when false. */
  allowSdist: boolean;
  /** Environments no pipeline used for this many days are removed. */
  retentionDays: number;
  /** Wall-clock limit of one build. */
  buildTimeoutSeconds: number;
};

/** How untrusted code from a push runs: the sandbox, its network, and its limits. */
export type NotebookSettings = {
  /** `auto`: bubblewrap when it works here, else run unsandboxed and say so; `bwrap`: refuse to start without it; `off`: never. */
  sandbox: "auto" | "bwrap" | "off";
  network: boolean;
  /** RLIMIT_DATA of each notebook process, in MB. */
  memoryMb: number;
  /** RLIMIT_NPROC: processes (and threads) of the notebook's user. */
  maxProcesses: number;
  /** RLIMIT_FSIZE: the largest file a notebook may write, in MB. */
  maxFileMb: number;
  /** Bytes of notebook output kept per pipeline; past it one marker line, then the rest is dropped. */
  logMaxBytes: number;
  /** Longest log line kept; longer lines are cut with a marker. */
  logLineMaxChars: number;
};

// What every replica reads: the serving settings.
const servingSchema = schema.pick({
  PORT: true,
  HOST: true,
  DATA_DIR: true,
  PREDICT_TOKEN: true,
  SHUTDOWN_GRACE_SECONDS: true,
  LOG_LEVEL: true,
  MAX_BATCH_ROWS: true,
  MAX_REQUEST_BYTES: true,
});

// `mlops replica <primary URL>`: the serving settings, and the replica token the primary issued.
const replicaSchema = servingSchema.extend({
  // The primary's replica token (mlops create-replica-token on the primary): reads its deployments and model files.
  REPLICA_TOKEN: z
    .string({ error: "must be set to a replica token of the primary (run mlops create-replica-token there)" })
    .trim()
    .min(16, "must be a replica token of the primary (run mlops create-replica-token there)"),
});

// `mlops replica --follow-mlflow`: the serving settings, the MLflow server, and the key that verifies what the primary signed.
const mlflowReplicaSchema = servingSchema.extend({
  MLFLOW_TRACKING_URI: z
    .string({ error: "must be set to the MLflow server the primary pushes to, such as http://mlflow:5000 (mlops replica --follow-mlflow)" })
    .trim()
    .refine((v) => /^https?:$/.test(URL.parse(v)?.protocol ?? ""), "must be the http(s) URL of the MLflow server the primary pushes to"),
  // The primary's model signature key (mlops mlflow-signature-key there): verifies the versions it signed in MLflow.
  MLFLOW_SIGNATURE_KEY: z
    .string({ error: "must be set to the primary's model signature key (run mlops mlflow-signature-key there)" })
    .trim()
    .regex(/^[0-9a-fA-F]{64}$/, "must be the primary's model signature key, 64 hexadecimal digits (run mlops mlflow-signature-key there)"),
  // How often a replica following MLflow reads the registry's "deployed" aliases.
  MLFLOW_POLL_SECONDS: int(1, 3600, "a whole number of seconds from 1 to 3600").default(5),
});

/** The name of every environment variable the server or a replica reads as a setting (docs/settings.md has a row for each). */
export const SETTING_NAMES: readonly string[] = Object.freeze([
  ...new Set([...Object.keys(schema.shape), ...Object.keys(replicaSchema.shape), ...Object.keys(mlflowReplicaSchema.shape)]),
]);

/** What a replica follows: a primary's deployments stream, or the "deployed" aliases in MLflow's registry. */
export type ReplicaFollow =
  | {
      kind: "primary";
      /** The primary's base URL, without trailing slash. */
      url: string;
      token: string;
    }
  | {
      kind: "mlflow";
      /** The tracking server, without trailing slash (credentials in it are sent as Basic auth, as on the primary). */
      url: string;
      /** The primary's model signature key (64 hex digits). */
      signatureKey: string;
      pollSeconds: number;
    };

/** What `mlops replica` runs with: what it follows, and the serving settings. */
export type ReplicaConfig = Pick<
  Config,
  "port" | "host" | "dataDir" | "predictToken" | "shutdownGraceSeconds" | "logLevel" | "maxBatchRows" | "maxRequestBytes"
> & { follow: ReplicaFollow };

/** Parse the replica's settings and `primaryUrl`; throws ConfigError naming each bad one (as loadConfig). Creates DATA_DIR. */
export function loadReplicaConfig(env: Record<string, string | undefined>, primaryUrl: string, cwd = process.cwd()): ReplicaConfig {
  const problems: string[] = [];
  const primary = URL.parse(primaryUrl.trim());
  if (!primary || !/^https?:$/.test(primary.protocol) || primary.search || primary.hash || primary.username)
    problems.push(`invalid primary URL ${JSON.stringify(primaryUrl)}: must be the primary's http(s) base URL, such as http://primary:8000`);
  const parsed = parseSettings(replicaSchema, env);
  if (!parsed.success) problems.push(...parsed.problems);
  if (!parsed.success || problems.length) throw new ConfigError(problems.join("\n"));
  const v = parsed.data;
  return { ...servingSettings(v, cwd), follow: { kind: "primary", url: primary!.href.replace(/\/+$/, ""), token: v.REPLICA_TOKEN } };
}

/** Parse the settings of `mlops replica --follow-mlflow`; throws ConfigError naming each bad or missing one. Creates DATA_DIR. */
export function loadMlflowReplicaConfig(env: Record<string, string | undefined>, cwd = process.cwd()): ReplicaConfig {
  const parsed = parseSettings(mlflowReplicaSchema, env);
  if (!parsed.success) throw new ConfigError(parsed.problems.join("\n"));
  const v = parsed.data;
  return {
    ...servingSettings(v, cwd),
    follow: {
      kind: "mlflow",
      url: v.MLFLOW_TRACKING_URI.replace(/\/+$/, ""),
      signatureKey: v.MLFLOW_SIGNATURE_KEY.toLowerCase(),
      pollSeconds: v.MLFLOW_POLL_SECONDS,
    },
  };
}

function servingSettings(v: z.output<typeof servingSchema>, cwd: string): Omit<ReplicaConfig, "follow"> {
  const dataDir = resolve(cwd, v.DATA_DIR);
  checkWritableDir("DATA_DIR", dataDir);
  return {
    port: v.PORT,
    host: v.HOST,
    dataDir,
    predictToken: v.PREDICT_TOKEN,
    shutdownGraceSeconds: v.SHUTDOWN_GRACE_SECONDS,
    logLevel: v.LOG_LEVEL,
    maxBatchRows: v.MAX_BATCH_ROWS,
    maxRequestBytes: v.MAX_REQUEST_BYTES,
  };
}

// Empty strings mean "unset" for variables with defaults, as in a typical .env file.
function parseSettings<S extends z.ZodObject>(
  s: S,
  env: Record<string, string | undefined>,
): { success: true; data: z.output<S> } | { success: false; problems: string[] } {
  const present = Object.fromEntries(
    Object.keys(s.shape)
      .filter((k) => env[k] !== undefined && env[k] !== "")
      .map((k) => [k, env[k]]),
  );
  const parsed = s.safeParse(present);
  if (parsed.success) return { success: true, data: parsed.data };
  const problems = parsed.error.issues.map((i) => {
    const name = String(i.path[0]);
    return `invalid ${name}=${JSON.stringify(env[name] ?? "")}: ${i.message}`;
  });
  return { success: false, problems };
}

/** Parse and check the environment; throws ConfigError naming each bad variable and what it allows. Creates DATA_DIR. */
export function loadConfig(env: Record<string, string | undefined>, cwd = process.cwd()): Config {
  const parsed = parseSettings(schema, env);
  if (!parsed.success) throw new ConfigError(parsed.problems.join("\n"));
  const v = parsed.data;
  if (v.RUNNER_BACKEND === "ray") {
    // Jobs report back to PUBLIC_URL, and there is no cluster to guess: both must be set.
    if (!v.RAY_ADDRESS) throw new ConfigError('invalid RUNNER_BACKEND="ray": RAY_ADDRESS must be set to the Ray Jobs API, such as http://ray-head:8265');
    if (!v.PUBLIC_URL) throw new ConfigError('invalid RUNNER_BACKEND="ray": PUBLIC_URL must be set (Ray jobs upload their results to it)');
  }
  const dataDir = resolve(cwd, v.DATA_DIR);
  checkWritableDir("DATA_DIR", dataDir);
  const databasePath = v.DATABASE_URL ? resolve(cwd, v.DATABASE_URL.slice("sqlite:///".length) || "mlops.db") : join(dataDir, "mlops.db");
  const venvBin = join(cwd, ".venv", "bin");
  const python = v.PYTHON || (existsSync(join(venvBin, "python")) ? join(venvBin, "python") : "python3");
  const papermill = v.PAPERMILL || (existsSync(join(venvBin, "papermill")) ? join(venvBin, "papermill") : "papermill");
  const uv = v.UV || (existsSync(join(venvBin, "uv")) ? join(venvBin, "uv") : "uv");
  return {
    port: v.PORT,
    host: v.HOST,
    dataDir,
    databasePath,
    githubWebhookSecret: v.GITHUB_WEBHOOK_SECRET,
    githubToken: v.GITHUB_TOKEN,
    githubApiUrl: v.GITHUB_API_URL.replace(/\/+$/, ""),
    mlflowTrackingUri: v.MLFLOW_TRACKING_URI.replace(/\/+$/, ""),
    autoDeployOnSuccess: v.AUTO_DEPLOY_ON_SUCCESS,
    minAccuracyThreshold: v.MIN_ACCURACY_THRESHOLD,
    // With Ray, notebooks in flight on the cluster, not local CPUs.
    workerConcurrency: v.WORKER_CONCURRENCY ?? (v.RUNNER_BACKEND === "ray" ? 16 : Math.max(1, availableParallelism() - 1)),
    pipelineTimeoutSeconds: v.PIPELINE_TIMEOUT_SECONDS,
    shutdownGraceSeconds: v.SHUTDOWN_GRACE_SECONDS,
    retentionDays: v.RETENTION_DAYS,
    runnerBackend: v.RUNNER_BACKEND,
    ray: {
      address: v.RAY_ADDRESS.replace(/\/+$/, ""),
      headers: v.RAY_HEADERS ? (JSON.parse(v.RAY_HEADERS) as Record<string, string>) : {},
      pendingTimeoutSeconds: v.RAY_PENDING_TIMEOUT_SECONDS,
      lostTimeoutSeconds: v.RAY_LOST_TIMEOUT_SECONDS,
    },
    adminToken: v.ADMIN_TOKEN,
    predictToken: v.PREDICT_TOKEN,
    frontendUrl: v.FRONTEND_URL,
    publicUrl: v.PUBLIC_URL.replace(/\/+$/, ""),
    python,
    papermill,
    logLevel: v.LOG_LEVEL,
    maxBatchRows: v.MAX_BATCH_ROWS,
    maxRequestBytes: v.MAX_REQUEST_BYTES,
    maxArtifactBytes: v.MAX_ARTIFACT_BYTES,
    notebook: {
      sandbox: v.NOTEBOOK_SANDBOX,
      network: v.NOTEBOOK_NETWORK === "on",
      memoryMb: v.NOTEBOOK_MEMORY_MB,
      maxProcesses: v.NOTEBOOK_MAX_PROCESSES,
      maxFileMb: v.NOTEBOOK_MAX_FILE_MB,
      logMaxBytes: v.NOTEBOOK_LOG_MAX_BYTES,
      logLineMaxChars: v.NOTEBOOK_LOG_LINE_MAX_CHARS,
    },
    environments: {
      uv,
      allowSdist: v.ENV_ALLOW_SDIST,
      retentionDays: v.ENV_RETENTION_DAYS,
      buildTimeoutSeconds: v.ENV_BUILD_TIMEOUT_SECONDS,
    },
  };
}

function checkWritableDir(name: string, dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (e) {
    const why = e instanceof Error && "code" in e ? String((e as NodeJS.ErrnoException).code) : "not accessible";
    throw new ConfigError(`invalid ${name}=${JSON.stringify(dir)}: must be a directory this process can create, read and write (${why})`);
  }
}
