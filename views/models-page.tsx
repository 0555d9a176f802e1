// The list of models: what each serves, its newest version, and since when it serves.
import { formatTime } from "./format.ts";
import { Layout } from "./layout.tsx";

export type ModelSummary = { name: string; serving: number | null; servingSince: string | null; latest: number; versions: number };

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
                <td>{m.serving === null ? <span class="muted">not serving</span> : <span class="ok">v{m.serving}</span>}</td>
                <td>v{m.latest}</td>
                <td>{m.versions}</td>
                <td>{m.servingSince === null ? <span class="muted">—</span> : <time datetime={m.servingSince}>{formatTime(m.servingSince)}</time>}</td>
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
