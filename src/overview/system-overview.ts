// "Is everything fine?": what the home page shows, gathered with a handful of indexed queries and the in-memory
// request window, with a verdict that lists what needs attention.
import type { CommitStatusHealth } from "../github/commit-status-health.ts";
import type { MlflowSyncHealth } from "../mlflow/mlflow-sync-store.ts";
import type { PipelineStore } from "../pipeline/pipeline-store.ts";
import type { SandboxStatus } from "../sandbox/notebook-sandbox.ts";
import type { RecentRequests, RecentTraffic } from "../serving/recent-requests.ts";

/** Error rate (5xx, over the request window) from which a serving model counts as a problem. */
export const ERROR_RATE_PROBLEM = 0.05;
/**
 * Refused rate (4xx) from which it does too: a few bad requests are the clients' business, but most of them refused
 * says the clients and the model disagree (a version deployed with other inputs, a PREDICT_TOKEN they do not send).
 */
export const REFUSED_RATE_PROBLEM = 0.5;

/** What the overview reads; the optional parts are absent when that integration is not configured. */
export type OverviewSources = {
  serving: () => { name: string; version: number }[];
  recentRequests: RecentRequests;
  pipelineStore: PipelineStore;
  /** Jobs waiting or running in the queue. */
  queueDepth: () => number;
  sandbox: SandboxStatus;
  /** Absent without MLFLOW_TRACKING_URI. */
  mlflowHealth?: () => MlflowSyncHealth;
  /** Absent without GITHUB_TOKEN. */
  commitStatusHealth?: () => CommitStatusHealth;
  now?: () => number;
};

/** Something that needs attention, with where to look. */
export type Problem = { text: string; href?: string };

export type SystemOverview = {
  problems: Problem[];
  /** `failing`: its error rate over the window is at least ERROR_RATE_PROBLEM; `refusing`: its refused rate is at least REFUSED_RATE_PROBLEM. */
  serving: ({ name: string; version: number; failing: boolean; refusing: boolean } & RecentTraffic)[];
  running: { id: number; notebookPath: string; modelName: string | null; phase: string | null; elapsedMs: number | null }[];
  lastFailure: {
    id: number;
    notebookPath: string;
    modelName: string | null;
    phase: string | null;
    reason: string;
    finishedAt: string | null;
    fixedBy: number | null;
  } | null;
  queue: { depth: number; queued: number; waitingForRunner: number; waitingReason: string | null };
  /** undefined: MLflow tracking is off. */
  mlflow?: MlflowSyncHealth;
  /** undefined: commit statuses are off; null: none posted within the queue's record (ended jobs are kept a week). */
  github?: CommitStatusHealth;
};

/** Gather the overview now. Never throws for a missing integration; database errors propagate. */
export function systemOverview(src: OverviewSources): SystemOverview {
  const now = (src.now ?? Date.now)();
  const serving = src.serving().map((m) => {
    const traffic = src.recentRequests.traffic(m.name);
    const seen = traffic.requests > 0;
    return { ...m, ...traffic, failing: seen && traffic.errorRate >= ERROR_RATE_PROBLEM, refusing: seen && traffic.refusedRate >= REFUSED_RATE_PROBLEM };
  });
  const running = src.pipelineStore.runningNow().map((p) => ({
    id: p.id,
    notebookPath: p.notebookPath,
    modelName: p.modelName,
    phase: p.phase,
    elapsedMs: p.startedAt ? Math.max(0, now - Date.parse(p.startedAt)) : null,
  }));
  const failed = src.pipelineStore.lastFailure();
  const lastFailure = failed
    ? {
        id: failed.pipeline.id,
        notebookPath: failed.pipeline.notebookPath,
        modelName: failed.pipeline.modelName,
        phase: failed.pipeline.failure?.phase ?? null,
        reason: failed.pipeline.error?.split("\n")[0] || failed.pipeline.status,
        finishedAt: failed.pipeline.finishedAt,
        fixedBy: failed.fixedBy,
      }
    : null;
  const queue = { depth: src.queueDepth(), ...src.pipelineStore.queuedNow() };
  const mlflow = src.mlflowHealth?.();
  const github = src.commitStatusHealth?.();
  const overview: SystemOverview = { problems: [], serving, running, lastFailure, queue, mlflow, github };
  // A problem is one line of the verdict; the whole reason is on the page it links to.
  overview.problems = problemsOf(overview, src.sandbox).map((p) => ({ ...p, text: clip(p.text, PROBLEM_MAX_CHARS) }));
  return overview;
}

function problemsOf(o: SystemOverview, sandbox: SandboxStatus): Problem[] {
  const problems: Problem[] = [];
  if (!sandbox.active) problems.push({ text: `Notebooks run without a sandbox: ${sandbox.problem ?? "NOTEBOOK_SANDBOX=off"}` });
  for (const m of o.serving) {
    if (m.failing)
      problems.push({
        text: `${m.name}: ${percent(m.errorRate)} of its requests failed (5xx) in the last minutes`,
        href: `/models/${encodeURIComponent(m.name)}`,
      });
    if (m.refusing)
      problems.push({
        text: `${m.name}: ${percent(m.refusedRate)} of its requests were refused (4xx: inputs it does not take, or no token) in the last minutes`,
        href: `/models/${encodeURIComponent(m.name)}`,
      });
  }
  const f = o.lastFailure;
  if (f && f.fixedBy === null) problems.push({ text: `Pipeline #${f.id} (${f.notebookPath}) failed: ${f.reason}`, href: `/pipelines/${f.id}` });
  if (o.queue.waitingForRunner)
    problems.push({
      text: `${o.queue.waitingForRunner} pipeline${o.queue.waitingForRunner === 1 ? "" : "s"} waiting for the runner: ${o.queue.waitingReason ?? ""}`,
      href: "/pipelines?status=queued",
    });
  const m = o.mlflow;
  if (m?.lastError && (m.lastSyncedAt === null || m.lastError.at > m.lastSyncedAt))
    problems.push({
      text: `MLflow sync ${m.lastError.status === "pending" ? `behind (${m.pending} pending)` : "failed"}: ${m.lastError.message}`,
      href: `/pipelines/${m.lastError.pipelineId}`,
    });
  const g = o.github;
  if (g && g.state !== "ok")
    problems.push({
      text: `GitHub commit status ${g.state === "retrying" ? "delivery failing, retrying" : "not delivered"}: ${g.error ?? "unknown error"}`,
      ...(g.pipelineId !== null && { href: `/pipelines/${g.pipelineId}` }),
    });
  return problems;
}

const PROBLEM_MAX_CHARS = 200;

function clip(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join("")}…`;
}

/** A rate as a percentage with up to one decimal. */
export function percent(rate: number): string {
  const p = rate * 100;
  return `${p >= 10 || Number.isInteger(p) ? Math.round(p) : p.toFixed(1)}%`;
}
