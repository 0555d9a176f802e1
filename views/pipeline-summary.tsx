// The refreshable part of a pipeline's page: status, facts, failure, phases, metrics, the model version, actions.
import type { MlflowSyncView } from "../src/mlflow/mlflow-tracking.ts";
import type { PipelineJson } from "../src/pipeline/pipeline-view.ts";
import { formatMetric } from "./format.ts";
import { formatDuration, RepoRef, ShortSha, StatusBadge, When } from "./pipeline-format.tsx";

export type PipelineDetail = PipelineJson & {
  phases: NonNullable<PipelineJson["phases"]>;
  repo_name?: string;
  mlflow?: MlflowSyncView | null;
  runner?: { backend: string; job_id: string | null; node_id: string | null; dashboard_url: string | null } | null;
};

export type PipelineSummaryProps = {
  pipeline: PipelineDetail;
  /** Queued or running: re-fetch every 2 s and offer Cancel; otherwise offer Retry and stop polling. */
  active: boolean;
};

// A refused action (409: already ended) shows its message above the summary, outside the polled part.
// (A spread: JSX cannot spell an attribute name part that starts with a digit.)
const actionErrors = { "hx-status:4xx": "target:#action-error swap:innerHTML" };

/** `<section id="summary">`, swapped whole (outerHTML) so each answer decides whether polling goes on. */
export function PipelineSummary(props: PipelineSummaryProps) {
  const p = props.pipeline;
  const polling = props.active ? { "hx-get": `/pipelines/${p.id}/summary`, "hx-trigger": "every 2s", "hx-swap": "outerHTML" } : {};
  const cell = p.failure?.cell;
  return (
    <section id="summary" {...polling}>
      <p class="headline">
        <StatusBadge id="status" status={p.status} />
        {props.active ? (
          <button id="cancel" class="danger" hx-post={`/pipelines/${p.id}/cancel`} hx-target="#summary" hx-swap="outerHTML" {...actionErrors}>
            Cancel
          </button>
        ) : (
          <button id="retry" hx-post={`/pipelines/${p.id}/retry`} {...actionErrors}>
            Retry
          </button>
        )}
      </p>
      <dl class="facts">
        <dt>repository</dt>
        <dd>
          <RepoRef repoId={p.repo_id} name={p.repo_name} />
        </dd>
        <dt>notebook</dt>
        <dd>
          <code>{p.notebook_path}</code> · <a href={`/pipelines/${p.id}/notebook`}>executed notebook</a>
        </dd>
        <dt>model</dt>
        <dd>{p.model_name ?? <span class="muted">not known yet</span>}</dd>
        <dt>commit</dt>
        <dd>
          <ShortSha sha={p.commit} /> on <code>{p.ref}</code>
        </dd>
        <dt>trigger</dt>
        <dd>
          {p.trigger}
          {p.retry_of !== null && (
            <>
              {" "}
              of <a href={`/pipelines/${p.retry_of}`}>pipeline {p.retry_of}</a>
            </>
          )}
        </dd>
        <dt>created</dt>
        <dd>
          <When iso={p.created_at} />
        </dd>
        <dt>started</dt>
        <dd>
          <When iso={p.started_at} />
        </dd>
        <dt>finished</dt>
        <dd>
          <When iso={p.finished_at} />
        </dd>
        <dt>duration</dt>
        <dd>{formatDuration(p.duration_ms)}</dd>
        {p.runner?.backend === "ray" && (
          <>
            <dt>ran on</dt>
            <dd id="runner">
              Ray job {p.runner.dashboard_url ? <a href={p.runner.dashboard_url}>{p.runner.job_id}</a> : p.runner.job_id}
              {p.runner.node_id && <span class="muted"> on node {p.runner.node_id.slice(0, 12)}</span>}
            </dd>
          </>
        )}
        {p.mlflow && (
          <>
            <dt>MLflow</dt>
            <dd id="mlflow">
              <MlflowSync sync={p.mlflow} />
            </dd>
          </>
        )}
      </dl>
      {p.waiting && (
        <p id="waiting" class="warning" role="status">
          Waiting since <When iso={p.waiting.since} />: {p.waiting.reason}. It stays queued and is tried again.
        </p>
      )}
      {p.error && (
        <p id="error" class="error" role="alert">
          {p.error}
        </p>
      )}
      {cell && (
        <div id="failed-cell" class="failed-cell">
          <h3>Failed cell</h3>
          <p>
            Cell <strong>{cell.index + 1}</strong> of the notebook
            {cell.tags.length > 0 && (
              <>
                , tagged{" "}
                {cell.tags.map((t, i) => (
                  <>
                    {i > 0 && ", "}
                    <code>{t}</code>
                  </>
                ))}
              </>
            )}{" "}
            raised:
          </p>
          <pre>{cell.exception}</pre>
          <p class="muted">
            The traceback is in the log below and in the <a href={`/pipelines/${p.id}/notebook#cell-${cell.index + 1}`}>executed notebook</a>.
          </p>
        </div>
      )}
      <h3>Phases</h3>
      <table class="phases">
        <thead>
          <tr>
            <th>phase</th>
            <th>status</th>
            <th>started (UTC)</th>
            <th>duration</th>
            <th>error</th>
          </tr>
        </thead>
        <tbody>
          {p.phases.map((ph) => (
            <tr>
              <td>{ph.name}</td>
              <td>
                <StatusBadge status={ph.status} />
              </td>
              <td>
                <When iso={ph.started_at} />
              </td>
              <td>{formatDuration(ph.duration_ms)}</td>
              <td class={ph.status === "failed" ? "error" : "muted"}>{ph.error}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Metrics</h3>
      {p.metrics && Object.keys(p.metrics).length > 0 ? (
        <table class="metrics">
          <tbody>
            {Object.entries(p.metrics).map(([name, value]) => (
              <tr>
                <th>{name}</th>
                <td title={String(value)}>{formatMetric(value)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">None recorded.</p>
      )}
      <h3>Model version</h3>
      {p.model_name && p.model_version !== null ? (
        <p id="model-version">
          <a href={`/models/${encodeURIComponent(p.model_name)}`}>
            {p.model_name} version {p.model_version}
          </a>
        </p>
      ) : (
        <p class="muted">{props.active ? "Not registered yet." : "This pipeline registered no model version."}</p>
      )}
    </section>
  );
}

/** Where the pipeline stands with MLflow: its run once synced, or why the sync is still pending or failed. */
function MlflowSync(props: { sync: MlflowSyncView }) {
  const { sync } = props;
  const run = sync.run_url && (
    <a href={sync.run_url} rel="noreferrer">
      run {sync.run_id}
    </a>
  );
  if (sync.status === "synced") {
    return (
      <span>
        synced: {run}
        {sync.model_version && <> · registered model version {sync.model_version}</>}
      </span>
    );
  }
  return (
    <span class={sync.status === "failed" ? "error" : "muted"}>
      {sync.status === "failed" ? "sync failed" : "sync pending"}
      {sync.attempts > 0 && ` after ${sync.attempts} attempt${sync.attempts === 1 ? "" : "s"}`}
      {sync.error && `: ${sync.error}`}
      {run && <> ({run})</>}
    </span>
  );
}
