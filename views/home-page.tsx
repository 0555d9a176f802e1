// The landing page: what serves now, and how to call it.
import { Layout } from "./layout.tsx";

export type HomeData = { version: string; baseUrl: string; serving: { name: string; version: number }[]; queueDepth: number };

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
                <td>{m.name}</td>
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
      <p class="muted">Pipelines queued or running: {props.queueDepth}</p>
      {example && (
        <pre>{`curl -s -X POST ${props.baseUrl}/models/${example.name}/predict -d '{"inputs": [[...]]}'`}</pre>
      )}
      <p>
        JSON API under <code>/api</code> (Bearer admin token), live logs at <code>/api/pipelines/&#123;id&#125;/events</code>,
        health at <a href="/health">/health</a>, metrics at <a href="/metrics">/metrics</a>.
      </p>
    </Layout>
  );
}
