// The part of a model's page that its actions refresh: what serves, the buttons, Try it, the charts, versions and history.
import type { ModelDetail } from "../src/models/model-view.ts";
import { type ChartGate, MetricsCharts } from "./metrics-chart.tsx";
import { actionAttrs } from "./model-actions.ts";
import { ModelInputs } from "./model-inputs.tsx";
import { HistoryTable, VersionsTable } from "./model-tables.tsx";
import { TryIt, type TryItProps } from "./try-it.tsx";

export type { ModelDetail } from "../src/models/model-view.ts";

/** The model section; the page embeds it and the actions answer with it. `gate`: the deploy gate drawn on the charts. */
export function ModelSection(props: { model: ModelDetail; gate: ChartGate | null; tryIt: TryItProps }) {
  const m = props.model;
  return (
    <section id="model-section" class="model">
      <div class="model-actions">
        <p>
          Serving: <strong id="serving-version">{m.serving_version === null ? "not serving" : `v${m.serving_version}`}</strong>
        </p>
        <button
          id="rollback"
          {...actionAttrs(m.name, "rollback")}
          hx-confirm={m.rollback_to === null ? undefined : `Roll back ${m.name} to v${m.rollback_to}?`}
          disabled={m.rollback_to === null}
          title={m.rollback_to === null ? "no earlier deployed version" : undefined}
        >
          {m.rollback_to === null ? "Rollback" : `Roll back to v${m.rollback_to}`}
        </button>
        <button
          id="undeploy"
          class="danger"
          {...actionAttrs(m.name, "undeploy")}
          hx-confirm={`Stop serving ${m.name}? Predictions will answer 404 until a version is deployed.`}
          disabled={m.serving_version === null}
        >
          Undeploy
        </button>
      </div>
      <div id="model-error"></div>
      <TryIt {...props.tryIt} />
      <OwnerForm model={m} />
      <ModelInputs model={m.name} versions={m.versions} serving={m.serving_version} />
      <h3>Metrics over versions</h3>
      <MetricsCharts
        versions={m.versions.map((v) => ({
          version: v.version,
          metrics: v.metrics,
          status: v.status,
          commit: v.lineage.commit,
          pipelineId: v.lineage.pipeline_id,
        }))}
        serving={m.serving_version}
        gate={props.gate}
      />
      <h3>Versions</h3>
      <VersionsTable model={m.name} versions={m.versions} serving={m.serving_version} />
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
