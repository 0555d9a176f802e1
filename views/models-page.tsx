// The list of models: what each serves, its newest version, and since when it serves.
import { formatTime } from "./format.ts";
import { Layout } from "./layout.tsx";

import type { ModelSummary } from "../src/models/model-view.ts";

export type { ModelSummary } from "../src/models/model-view.ts";

/** Every model with at least one stored version, by name. */
export function ModelsPage(props: { version: string; models: ModelSummary[] }) {
  return (
    <Layout title="Models" version={props.version}>
      <h2>Models</h2>
      {props.models.length ? (
        <table class="models">
          <thead>
            <tr>
              <th>model</th>
              <th>serving</th>
              <th>latest</th>
              <th>versions</th>
              <th>deployed</th>
            </tr>
          </thead>
          <tbody>
            {props.models.map((m) => (
              <tr>
                <td>
                  <a href={`/models/${encodeURIComponent(m.name)}`}>{m.name}</a>
                </td>
                <td>{m.serving_version === null ? <span class="muted">not serving</span> : <span class="ok">v{m.serving_version}</span>}</td>
                <td>v{m.latest_version}</td>
                <td>{m.versions}</td>
                <td>{m.serving_since === null ? <span class="muted">—</span> : <time datetime={m.serving_since}>{formatTime(m.serving_since)}</time>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">No model yet: a pipeline that succeeds registers its notebook's model here.</p>
      )}
    </Layout>
  );
}
