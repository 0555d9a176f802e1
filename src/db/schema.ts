// Drizzle table definitions; the SQL that creates them is in ./migrations (checked against this file by schema.test.ts).
import { sql } from "drizzle-orm";
import { integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { JobFailureKind, JobState, PhaseStatus, PipelineStatus } from "./states.ts";

const createdAt = (name = "created_at") => text(name).notNull().default(sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))`);

/** A pipeline's failure as stored; src/pipeline/pipeline-failure.ts narrows phase and kind (db/ imports nothing above it). */
export type StoredFailure = { phase: string | null; kind: string; message: string; cell?: { index: number; tags: string[]; exception: string } };

/** Key/value settings kept by the server itself (generated secrets). */
export const settings = sqliteTable("settings", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});

export const repositories = sqliteTable("repositories", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  fullName: text("full_name").notNull().unique(),
  cloneUrl: text("clone_url").notNull(),
  branch: text("branch").notNull(),
  notebookGlob: text("notebook_glob").notNull(),
  deployMetric: text("deploy_metric").notNull(),
  deployThreshold: real("deploy_threshold"),
  createdAt: createdAt(),
  updatedAt: text("updated_at").notNull(),
  /** JSON of what its notebooks ask of a Ray cluster (src/runner/ray-resources.ts); a notebook's own metadata wins. */
  runnerResources: text("runner_resources"),
});

export const webhookDeliveries = sqliteTable("webhook_deliveries", {
  id: text("id").primaryKey(),
  event: text("event").notNull(),
  repoFullName: text("repo_full_name"),
  outcome: text("outcome").notNull(),
  detail: text("detail").notNull().default(""),
  payload: text("payload"),
  receivedAt: createdAt("received_at"),
});

export const jobs = sqliteTable("jobs", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  kind: text("kind").notNull(),
  payload: text("payload").notNull(),
  state: text("state").$type<JobState>().notNull(),
  dedupeKey: text("dedupe_key"),
  attempts: integer("attempts").notNull().default(0),
  maxAttempts: integer("max_attempts").notNull().default(1),
  runAt: integer("run_at").notNull(),
  lockedBy: text("locked_by"),
  lockedUntil: integer("locked_until"),
  lastError: text("last_error"),
  /** Why its last attempt did not succeed, as data (JobFailureKind); null while it has not failed. */
  failureKind: text("failure_kind").$type<JobFailureKind>(),
  createdAt: createdAt(),
  updatedAt: integer("updated_at").notNull(),
});

export const pipelines = sqliteTable("pipelines", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  repoId: integer("repo_id").references(() => repositories.id, { onDelete: "set null" }),
  deliveryId: text("delivery_id"),
  trigger: text("trigger").notNull(),
  ref: text("ref").notNull(),
  commitSha: text("commit_sha").notNull(),
  beforeSha: text("before_sha"),
  notebookPath: text("notebook_path").notNull(),
  modelName: text("model_name"),
  status: text("status").$type<PipelineStatus>().notNull(),
  error: text("error"),
  metrics: text("metrics"),
  modelVersion: integer("model_version"),
  retryOf: integer("retry_of"),
  createdAt: createdAt(),
  startedAt: text("started_at"),
  finishedAt: text("finished_at"),
  /** Times a graceful stop put this pipeline back in the queue (at most 1: the second stop fails it as interrupted). */
  shutdownRequeues: integer("shutdown_requeues").notNull().default(0),
  /** Why it did not succeed, as data (src/pipeline/pipeline-failure.ts); null while it runs or when it succeeded. */
  failure: text("failure", { mode: "json" }).$type<StoredFailure>(),
  /** The runner's handle of its latest run (src/runner/runner.ts), for backends that can attach after a restart. */
  runnerHandle: text("runner_handle"),
  /** The cluster node the notebook ran on (Ray's node id); null for local runs. */
  runnerNode: text("runner_node"),
  /** Why a queued pipeline waits (its runner cannot take it now) and since when; null once it runs. */
  waitingReason: text("waiting_reason"),
  waitingSince: text("waiting_since"),
  /** When retention (RETENTION_DAYS) removed its log and work dir; null while they are kept. */
  filesRemovedAt: text("files_removed_at"),
  /** Whether retention kept its executed notebook (a serving or recently deployed version's) when it removed the rest. */
  notebookKept: integer("notebook_kept", { mode: "boolean" }).notNull().default(false),
});

export const pipelinePhases = sqliteTable(
  "pipeline_phases",
  {
    pipelineId: integer("pipeline_id")
      .notNull()
      .references(() => pipelines.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    position: integer("position").notNull(),
    status: text("status").$type<PhaseStatus>().notNull(),
    startedAt: text("started_at"),
    finishedAt: text("finished_at"),
    error: text("error"),
  },
  (t) => [primaryKey({ columns: [t.pipelineId, t.name] })],
);

export const pipelineLogLines = sqliteTable(
  "pipeline_log_lines",
  {
    pipelineId: integer("pipeline_id")
      .notNull()
      .references(() => pipelines.id, { onDelete: "cascade" }),
    seq: integer("seq").notNull(),
    stream: text("stream").notNull(),
    line: text("line").notNull(),
    at: integer("at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.pipelineId, t.seq] })],
);

/** Processes a pipeline started, with their start times, so a restarted server can kill what a dead one left. */
export const pipelineProcesses = sqliteTable(
  "pipeline_processes",
  {
    pipelineId: integer("pipeline_id")
      .notNull()
      .references(() => pipelines.id, { onDelete: "cascade" }),
    pid: integer("pid").notNull(),
    startTime: text("start_time").notNull(),
  },
  (t) => [primaryKey({ columns: [t.pipelineId, t.pid] })],
);

export const modelVersions = sqliteTable(
  "model_versions",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    modelName: text("model_name").notNull(),
    version: integer("version").notNull(),
    status: text("status").notNull(),
    reason: text("reason"),
    path: text("path").notNull(),
    sha256: text("sha256").notNull(),
    format: text("format").notNull(),
    metrics: text("metrics").notNull().default("{}"),
    signature: text("signature"),
    repoId: integer("repo_id"),
    commitSha: text("commit_sha"),
    notebookPath: text("notebook_path"),
    pipelineId: integer("pipeline_id"),
    notebookVersion: text("notebook_version"),
    /** JSON: the first rows the converter's parity check ran (src/models/sample-rows.ts); null without them. */
    sampleRows: text("sample_rows"),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex("model_versions_name_version").on(t.modelName, t.version)],
);

/** Deployment history: the newest row per model says what serves (version NULL = undeployed). */
export const deployments = sqliteTable("deployments", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  modelName: text("model_name").notNull(),
  version: integer("version"),
  reason: text("reason").notNull(),
  pipelineId: integer("pipeline_id"),
  actor: text("actor"),
  at: createdAt("at"),
});

/** What of a pipeline is in MLflow; steps already done are kept so a retry resumes. */
export const mlflowSync = sqliteTable("mlflow_sync", {
  pipelineId: integer("pipeline_id")
    .primaryKey()
    .references(() => pipelines.id, { onDelete: "cascade" }),
  status: text("status", { enum: ["pending", "synced", "failed"] }).notNull(),
  experimentId: text("experiment_id"),
  runId: text("run_id"),
  artifactUri: text("artifact_uri"),
  logged: integer("logged", { mode: "boolean" }).notNull().default(false),
  artifacts: integer("artifacts", { mode: "boolean" }).notNull().default(false),
  modelVersion: text("model_version"),
  attempts: integer("attempts").notNull().default(0),
  lastError: text("last_error"),
  updatedAt: text("updated_at").notNull().default(sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))`),
});

/** Which repository (by full name) a model name belongs to; claimed by the first pipeline that registers a version. */
export const modelOwners = sqliteTable("model_owners", {
  modelName: text("model_name").primaryKey(),
  repoFullName: text("repo_full_name").notNull(),
  claimedAt: createdAt("claimed_at"),
  updatedAt: text("updated_at").notNull().default(sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))`),
});

/** Page sessions (src/auth/page-sessions.ts): the hash of the cookie's random id, the admin token it belongs to, its end (epoch ms). */
export const pageSessions = sqliteTable("page_sessions", {
  idSha256: text("id_sha256").primaryKey(),
  /** HMAC-SHA256 keyed by the session id over the admin token's hash it was made under (see auth/page-sessions.ts). */
  adminTag: text("admin_tag").notNull(),
  createdAt: createdAt(),
  expiresAt: integer("expires_at").notNull(),
});

/** Upload tokens (src/pipeline/upload-tokens.ts): the SHA-256 of a pipeline's one live token for sending its results back. */
export const uploadTokens = sqliteTable("upload_tokens", {
  pipelineId: integer("pipeline_id")
    .primaryKey()
    .references(() => pipelines.id, { onDelete: "cascade" }),
  tokenSha256: text("token_sha256").notNull(),
  issuedAt: createdAt("issued_at"),
});

/** Replica tokens (src/replication/replica-tokens.ts): a serving replica's credential for /api/replication/, kept as SHA-256. */
export const replicaTokens = sqliteTable("replica_tokens", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().default(""),
  tokenSha256: text("token_sha256").notNull().unique(),
  createdAt: createdAt(),
  lastUsedAt: text("last_used_at"),
});
