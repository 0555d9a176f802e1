// The landing page: is everything fine? (the health part, polled), then the newest pipelines and how to call a model.
import type { SystemOverview } from "../src/overview/system-overview.ts";
import { HomeHealth } from "./home-health.tsx";
import { Layout } from "./layout.tsx";
import { StatusBadge, When } from "./pipeline-format.tsx";

/** A recent pipeline as the home page lists it. */
export type RecentPipeline = { id: number; notebook_path: string; model_name: string | null; status: string; created_at: string };

export type HomeData = { version: string; baseUrl: string; overview: SystemOverview; windowMinutes: number; recent: RecentPipeline[] };

/** The verdict and health (refreshed every 5 s), the newest pipelines, a curl line; the JSON API for everything else. */
export function HomePage(props: HomeData) {
  const example = props.overview.serving[0];
  return (
    <Layout title="Home" version={props.version}>
      <HomeHealth overview={props.overview} windowMinutes={props.windowMinutes} />
      <h2>Recent pipelines</h2>
      {props.recent.length ? (
        <div class="table-wrap">
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
        </div>
      ) : (
        <p class="muted">No pipeline has run yet.</p>
      )}
      <p class="muted">
        <a href="/pipelines">all pipelines</a> · <a href="/models">all models</a>
      </p>
      {example && <pre>{`curl -s -X POST ${props.baseUrl}/models/${example.name}/predict -d '{"inputs": [[...]]}'`}</pre>}
      <p>
        JSON API under <code>/api</code> (Bearer admin token), live logs at <code>/api/pipelines/&#123;id&#125;/events</code>, health at{" "}
        <a href="/health">/health</a>, metrics at <a href="/metrics">/metrics</a>.
      </p>
    </Layout>
  );
}
