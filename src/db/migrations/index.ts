// The ordered list of schema migrations, embedded as text so the executable never reads a folder.
import init from "./0001_init.sql" with { type: "text" };
import mlflowSync from "./0002_mlflow_sync.sql" with { type: "text" };
import pageSessions from "./0003_page_sessions.sql" with { type: "text" };
import modelOwners from "./0004_model_owners.sql" with { type: "text" };
import shutdownRequeue from "./0005_shutdown_requeue.sql" with { type: "text" };
import pipelineFailure from "./0007_pipeline_failure.sql" with { type: "text" };
import jobFailureKind from "./0008_job_failure_kind.sql" with { type: "text" };
import pageSessionTags from "./0009_page_session_tags.sql" with { type: "text" };
import runnerNode from "./0011_runner_node.sql" with { type: "text" };
import pipelineWaiting from "./0013_pipeline_waiting.sql" with { type: "text" };
import uploadTokens from "./0010_upload_tokens.sql" with { type: "text" };
import repoRunnerResources from "./0012_repo_runner_resources.sql" with { type: "text" };
import replicaTokens from "./0014_replica_tokens.sql" with { type: "text" };
import sampleRows from "./0015_sample_rows.sql" with { type: "text" };
import retention from "./0016_retention.sql" with { type: "text" };

export type Migration = { id: number; name: string; sql: string };

/** Append new migrations at the end; never edit one that has shipped. */
export const migrations: readonly Migration[] = [
  { id: 1, name: "0001_init", sql: init },
  { id: 2, name: "0002_mlflow_sync", sql: mlflowSync },
  { id: 3, name: "0003_page_sessions", sql: pageSessions },
  { id: 4, name: "0004_model_owners", sql: modelOwners },
  { id: 5, name: "0005_shutdown_requeue", sql: shutdownRequeue },
  { id: 7, name: "0007_pipeline_failure", sql: pipelineFailure },
  { id: 8, name: "0008_job_failure_kind", sql: jobFailureKind },
  { id: 9, name: "0009_page_session_tags", sql: pageSessionTags },
  { id: 10, name: "0010_upload_tokens", sql: uploadTokens },
  { id: 11, name: "0011_runner_node", sql: runnerNode },
  { id: 12, name: "0012_repo_runner_resources", sql: repoRunnerResources },
  { id: 13, name: "0013_pipeline_waiting", sql: pipelineWaiting },
  { id: 14, name: "0014_replica_tokens", sql: replicaTokens },
  { id: 15, name: "0015_sample_rows", sql: sampleRows },
  { id: 16, name: "0016_retention", sql: retention },
];
