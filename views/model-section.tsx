// The part of a model's page that its actions refresh: what serves, the buttons, the chart, versions and history.
import type { deploymentJson, versionJson } from "../src/models/model-view.ts";
import { MetricsChart } from "./metrics-chart.tsx";
import { actionAttrs } from "./model-actions.ts";
import { HistoryTable, VersionsTable } from "./model-tables.tsx";

export type ModelDetail = {
  name: string;
  /** The repository (owner/name) whose pipelines may register versions; null while unclaimed. */
  owner: string | null;
  serving: number | null;
  /** The version Rollback would deploy; null disables the button. */
  rollbackTo: number | null;
  /** Newest first. */
  versions: ReturnType<typeof versionJson>[];
  /** Newest first. */
  deployments: ReturnType<typeof deploymentJson>[];
};

/** The model section; the page embeds it and the actions answer with it. */
export function ModelSection(props: { model: ModelDetail }) {
  const m = props.model;
  return (
    <section id="model-section" class="model">
      <div class="model-actions">
        <p>
          Serving: <strong id="serving-version">{m.serving === null ? "not serving" : `v${m.serving}`}</strong>
        </p>
        <button
          id="rollback"
          {...actionAttrs(m.name, "rollback")}
          hx-confirm={m.rollbackTo === null ? undefined : `Roll back ${m.name} to v${m.rollbackTo}?`}
          disabled={m.rollbackTo === null}
          title={m.rollbackTo === null ? "no earlier deployed version" : undefined}
        >
          {m.rollbackTo === null ? "Rollback" : `Roll back to v${m.rollbackTo}`}
        </button>
        <button
          id="undeploy"
          class="danger"
          {...actionAttrs(m.name, "undeploy")}
          hx-confirm={`Stop serving ${m.name}? Predictions will answer 404 until a version is deployed.`}
          disabled={m.serving === null}
        >
          Undeploy
        </button>
      </div>
      <div id="model-error"></div>
      <OwnerForm model={m} />
      <h3>Metrics over versions</h3>
      <MetricsChart versions={m.versions} />
      <h3>Versions</h3>
      <VersionsTable model={m.name} versions={m.versions} serving={m.serving} />
      <h3>Deployments</h3>
      <HistoryTable deployments={m.deployments} />
    </section>
  );
}

/** Who owns the model, and the form an admin moves it to another repository with. */
function OwnerForm(props: { model: ModelDetail }) {
  const m = props.model;
  return (
    <form
      class="model-owner"
      {...actionAttrs(m.name, "owner")}
      hx-confirm={`Give ${m.name} to another repository? Only that repository's pipelines may then register versions of it.`}
    >
      <p>
        Owner: <strong id="model-owner">{m.owner ?? "unclaimed"}</strong>
        {m.owner === null && <span class="muted"> (the next repository whose pipeline registers it takes it)</span>}
      </p>
      <label>
        Transfer to <input type="text" name="full_name" required placeholder="owner/name" autocomplete="off" />
      </label>
      <button type="submit">Transfer</button>
    </form>
  );
}
