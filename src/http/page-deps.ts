// What the pages need, given by the composition root; each page file takes the part it uses.
import type { PageSessions } from "../auth/page-sessions.ts";
import type { Config } from "../config.ts";
import type { MlflowSyncView } from "../mlflow/mlflow-tracking.ts";
import type { Deployer } from "../models/deployer.ts";
import type { ModelStore } from "../models/model-store.ts";
import type { LogBus } from "../pipeline/log-bus.ts";
import type { PipelineStore } from "../pipeline/pipeline-store.ts";
import type { RepoStore } from "../repos/repo-store.ts";
import type { RunRepo } from "../repos/run-repo.ts";
import type { SandboxStatus } from "../sandbox/notebook-sandbox.ts";
import type { ModelRegistry } from "../serving/model-registry.ts";
import type { CommitStatusHealth } from "../github/commit-status-health.ts";
import type { MlflowSyncHealth } from "../mlflow/mlflow-sync-store.ts";
import type { RecentRequests } from "../serving/recent-requests.ts";
import type { PipelineActions } from "./pipelines.ts";

export type PageDeps = {
  version: string;
  adminTokenSha256: string;
  /** Page sessions: made at sign-in, checked on every page, ended at sign-out. */
  pageSessions: PageSessions;
  /** Models serving now, read per request. */
  serving: () => { name: string; version: number }[];
  queueDepth: () => number;
  /** A repository's full name ("owner/name"), or undefined once it was removed. */
  repoName: (id: number) => string | undefined;
  /** What the repositories page shows and changes; `runRepo` starts the Run now pipelines. */
  repos: RepoStore;
  runRepo: RunRepo;
  /** Whether pushed code runs sandboxed; pipeline pages warn when it does not. */
  sandbox: SandboxStatus;
  /** The secret GitHub signs webhook deliveries with, shown in the setup box. */
  webhookSecret: string;
  config: Pick<Config, "publicUrl" | "minAccuracyThreshold" | "autoDeployOnSuccess" | "dataDir" | "predictToken">;
  /** Prediction requests per model over the last minutes (the home page). */
  recentRequests: RecentRequests;
} & PipelineAndModelDeps &
  HealthDeps;

/** The integrations' health for the home page; each absent when that integration is not configured. */
export type HealthDeps = {
  /** MLflow sync backlog, last success and newest error; absent without MLFLOW_TRACKING_URI. */
  mlflowHealth?: () => MlflowSyncHealth;
  /** The last GitHub commit status delivery; absent without GITHUB_TOKEN. */
  commitStatusHealth?: () => CommitStatusHealth;
};

/** The pipeline and model services the pages and the JSON API share (AppDeps has them too). */
export type PipelineAndModelDeps = {
  pipelineStore: PipelineStore;
  bus: LogBus;
  pipelineActions: PipelineActions;
  modelStore: ModelStore;
  deployer: Deployer;
  registry: ModelRegistry;
  /** How a pipeline stands with MLflow; absent without MLFLOW_TRACKING_URI. */
  mlflowView?: (pipelineId: number) => MlflowSyncView | null;
  /** The Ray dashboard's page of a job; absent with the local runner. */
  jobDashboard?: (jobId: string) => string;
};
