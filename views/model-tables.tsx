// The versions table (with a Deploy button per version that does not serve) and the deployment history.
import type { deploymentJson, versionJson } from "../src/models/model-view.ts";
import { formatMetric, formatTime } from "./format.ts";
import { actionAttrs } from "./model-actions.ts";

/** Every stored version, newest first. */
export function VersionsTable(props: { model: string; versions: ReturnType<typeof versionJson>[]; serving: number | null }) {
  return (
    <table class="versions">
      <thead>
        <tr>
          <th>version</th>
          <th>status</th>
          <th>metrics</th>
          <th>created</th>
          <th>pipeline</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        {props.versions.map((v) => (
          <tr data-version={v.version}>
            <td>v{v.version}</td>
            <td class={`status-${v.status}`}>
              {v.status}
              {v.reason && <span class="muted">: {v.reason}</span>}
            </td>
            <td>
              {Object.entries(v.metrics).map(([name, value]) => (
                <span class="metric">
                  {name} {formatMetric(value)}
                </span>
              ))}
            </td>
            <td>
              <time datetime={v.created_at}>{formatTime(v.created_at)}</time>
            </td>
            <td>
              {v.lineage.pipeline_id === null ? (
                <span class="muted">—</span>
              ) : (
                <>
                  <a href={`/pipelines/${v.lineage.pipeline_id}`}>#{v.lineage.pipeline_id}</a> ·{" "}
                  <a class="notebook-link" href={`/pipelines/${v.lineage.pipeline_id}/notebook`}>
                    notebook
                  </a>
                </>
              )}
            </td>
            <td>
              {v.version === props.serving ? (
                <span class="ok">serving</span>
              ) : (
                <button {...actionAttrs(props.model, "deploy")} name="version" value={String(v.version)} data-version={v.version}>
                  Deploy
                </button>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Deployments, newest first: which version (or undeployed), when, why and by whom. */
export function HistoryTable(props: { deployments: ReturnType<typeof deploymentJson>[] }) {
  if (!props.deployments.length) return <p class="muted">Never deployed.</p>;
  return (
    <table class="history">
      <thead>
        <tr>
          <th>version</th>
          <th>when</th>
          <th>reason</th>
          <th>by</th>
        </tr>
      </thead>
      <tbody>
        {props.deployments.map((d) => (
          <tr>
            <td>{d.version === null ? "undeployed" : `v${d.version}`}</td>
            <td>
              <time datetime={d.at}>{formatTime(d.at)}</time>
            </td>
            <td>{d.reason}</td>
            <td>
              {d.pipeline_id !== null ? <a href={`/pipelines/${d.pipeline_id}`}>pipeline #{d.pipeline_id}</a> : (d.actor ?? <span class="muted">—</span>)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
