// The landing page: what serves now, and how to call it.
import { Layout } from "./layout.tsx";
import { StatusBadge, When } from "./pipeline-format.tsx";

/** A recent pipeline as the home page lists it. */
export type RecentPipeline = { id: number; notebook_path: string; model_name: string | null; status: string; created_at: string };

export type HomeData = { version: string; baseUrl: string; serving: { name: string; version: number }[]; queueDepth: number; recent: RecentPipeline[] };

/** Models serving now with a curl line each; the JSON API for everything else. */
export function HomePage(props: HomeData) {
  const example = props.serving[0];
  return (
    <Layout title="Home" version={props.version}>
      <h2>Serving</h2>
      {props.serving.length ? (
        <table>
          <thead>
            <tr>
              <th>model</th>
              <th>version</th>
              <th>predict</th>
            </tr>
          </thead>
          <tbody>
            {props.serving.map((m) => (
              <tr>
                <td>
                  <a href={`/models/${encodeURIComponent(m.name)}`}>{m.name}</a>
                </td>
                <td class="ok">{m.version}</td>
                <td>
                  <code>POST /models/{m.name}/predict</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">No model serves yet: register a repository and push a tagged notebook.</p>
      )}
      <h2>Recent pipelines</h2>
      {props.recent.length ? (
        <table id="recent-pipelines">
          <tbody>
            {props.recent.map((p) => (
              <tr>
                <td>
                  <a href={`/pipelines/${p.id}`}>#{p.id}</a>
                </td>
                <td>
                  <code>{p.notebook_path}</code>
                </td>
                <td>{p.model_name ?? ""}</td>
                <td>
                  <StatusBadge status={p.status} />
                </td>
                <td>
                  <When iso={p.created_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">No pipeline has run yet.</p>
      )}
      <p class="muted">
        Jobs queued or running: {props.queueDepth} · <a href="/pipelines">all pipelines</a> · <a href="/models">all models</a>
      </p>
      {example && <pre>{`curl -s -X POST ${props.baseUrl}/models/${example.name}/predict -d '{"inputs": [[...]]}'`}</pre>}
      <p>
        JSON API under <code>/api</code> (Bearer admin token), live logs at <code>/api/pipelines/&#123;id&#125;/events</code>, health at{" "}
        <a href="/health">/health</a>, metrics at <a href="/metrics">/metrics</a>.
      </p>
    </Layout>
  );
}
