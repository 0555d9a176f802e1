// The home page's health part: the verdict, models serving with their traffic, pipelines running, the last failure,
// the queue and the integrations. The same partial renders in the page and as the fragment htmx polls.
import type { SystemOverview } from "../src/overview/system-overview.ts";
import { formatDuration, When } from "./pipeline-format.tsx";

/** Whole requests per minute, or one decimal below ten. */
function rate(perMinute: number): string {
  return perMinute >= 10 || Number.isInteger(perMinute) ? String(Math.round(perMinute)) : perMinute.toFixed(1);
}

function pct(r: number): string {
  const p = r * 100;
  return `${p >= 10 || Number.isInteger(p) ? Math.round(p) : p.toFixed(1)}%`;
}

/** The health part, polling itself every 5 s (`/home/health`). */
export function HomeHealth(props: { overview: SystemOverview; windowMinutes: number }) {
  const o = props.overview;
  return (
    <div id="home-health" hx-get="/home/health" hx-trigger="every 5s" hx-swap="outerHTML">
      <Verdict overview={o} />
      <h2>Serving</h2>
      {o.serving.length ? (
        <div class="table-wrap">
          <table id="serving">
            <thead>
              <tr>
                <th>model</th>
                <th>version</th>
                <th class="num" title={`averaged over the last ${props.windowMinutes} minutes`}>
                  requests/min
                </th>
                <th class="num" title={`answered 5xx (the server failed), over the last ${props.windowMinutes} minutes`}>
                  errors
                </th>
                <th class="num" title={`answered 4xx (bad input, no token), over the last ${props.windowMinutes} minutes`}>
                  refused
                </th>
                <th>predict</th>
              </tr>
            </thead>
            <tbody>
              {o.serving.map((m) => (
                <tr>
                  <td>
                    <a href={`/models/${encodeURIComponent(m.name)}`}>{m.name}</a>
                  </td>
                  <td class="ok">{m.version}</td>
                  <td class="num">{rate(m.perMinute)}</td>
                  <td class={m.failing ? "num error" : "num"}>{m.requests ? pct(m.errorRate) : <span class="muted">no requests</span>}</td>
                  <td class={m.refusing ? "num error" : "num"}>{m.requests ? pct(m.refusedRate) : ""}</td>
                  <td>
                    <code>POST /models/{m.name}/predict</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <p class="muted">No model serves yet: register a repository and push a tagged notebook.</p>
      )}
      <h2>Running now</h2>
      {o.running.length ? (
        <div class="table-wrap">
          <table id="running-now">
            <tbody>
              {o.running.map((p) => (
                <tr>
                  <td>
                    <a href={`/pipelines/${p.id}`}>#{p.id}</a>
                  </td>
                  <td>
                    <code>{p.notebookPath}</code>
                  </td>
                  <td>{p.modelName ?? ""}</td>
                  <td>{p.phase ?? "between phases"}</td>
                  <td class="num">{formatDuration(p.elapsedMs)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <p class="muted">No pipeline runs now.</p>
      )}
      <p id="queue">
        Queue: {o.queue.depth} job{o.queue.depth === 1 ? "" : "s"} queued or running · {o.queue.queued} pipeline{o.queue.queued === 1 ? "" : "s"} waiting
        {o.queue.waitingForRunner > 0 && (
          <span class="error">
            {" "}
            ({o.queue.waitingForRunner} for their runner: {o.queue.waitingReason})
          </span>
        )}
      </p>
      <h2>Last failure</h2>
      {o.lastFailure ? (
        <p id="last-failure">
          <a href={`/pipelines/${o.lastFailure.id}`}>#{o.lastFailure.id}</a> <code>{o.lastFailure.notebookPath}</code>
          {o.lastFailure.phase && <> in {o.lastFailure.phase}</>}: <span class={o.lastFailure.fixedBy === null ? "error" : ""}>{o.lastFailure.reason}</span>{" "}
          <When iso={o.lastFailure.finishedAt} />
          {o.lastFailure.fixedBy !== null && (
            <span class="ok">
              {" "}
              · fixed since: <a href={`/pipelines/${o.lastFailure.fixedBy}`}>#{o.lastFailure.fixedBy}</a> succeeded
            </span>
          )}
        </p>
      ) : (
        <p class="muted">No pipeline has failed.</p>
      )}
      {(o.mlflow || o.github !== undefined) && <h2>Integrations</h2>}
      {o.mlflow && (
        <p id="mlflow-health">
          MLflow sync: last success <When iso={o.mlflow.lastSyncedAt} /> · backlog {o.mlflow.pending} pending, {o.mlflow.failed} failed
          {o.mlflow.lastError && (
            <>
              {" "}
              · last error (<a href={`/pipelines/${o.mlflow.lastError.pipelineId}`}>#{o.mlflow.lastError.pipelineId}</a>, <When iso={o.mlflow.lastError.at} />
              ): <span class="error">{o.mlflow.lastError.message}</span>
            </>
          )}
        </p>
      )}
      {o.github !== undefined && (
        <p id="github-health">
          GitHub commit statuses:{" "}
          {o.github === null ? (
            <span class="muted">none posted recently</span>
          ) : o.github.state === "ok" ? (
            <>
              <span class="ok">last delivery ok</span> <When iso={new Date(o.github.at).toISOString()} />
            </>
          ) : (
            <>
              <span class="error">last delivery {o.github.state === "retrying" ? "failed, retrying" : "failed"}</span>{" "}
              <When iso={new Date(o.github.at).toISOString()} />: {o.github.error}
              {o.github.pipelineId !== null && (
                <>
                  {" "}
                  (<a href={`/pipelines/${o.github.pipelineId}`}>#{o.github.pipelineId}</a>)
                </>
              )}
            </>
          )}
        </p>
      )}
    </div>
  );
}

function Verdict(props: { overview: SystemOverview }) {
  const { problems } = props.overview;
  if (!problems.length)
    return (
      <p id="verdict" class="verdict verdict-ok" role="status">
        All fine: nothing needs attention.
      </p>
    );
  return (
    <div id="verdict" class="verdict verdict-problem" role="status">
      <p>{problems.length === 1 ? "One thing needs" : `${problems.length} things need`} attention:</p>
      <ul>
        {problems.map((p) => (
          <li>{p.href ? <a href={p.href}>{p.text}</a> : p.text}</li>
        ))}
      </ul>
    </div>
  );
}
