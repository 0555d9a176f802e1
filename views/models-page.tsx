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
      <WhatConverts />
    </Layout>
  );
}

/** What a notebook may save with joblib and have converted to ONNX (docs/notebook-contract.md, "What converts"). */
function WhatConverts() {
  return (
    <section class="what-converts">
      <h3>What converts</h3>
      <p>
        A notebook writes an ONNX file to <code>MODEL_OUTPUT_PATH</code>, or a model saved with <code>joblib.dump</code>, which is converted to ONNX by the
        python that trained it (a <code>requirements.txt</code> beside the notebook gives it its own libraries) and kept only when it agrees with the original
        on 32 sample rows:
      </p>
      <ul>
        <li>scikit-learn estimators and Pipelines that skl2onnx converts;</li>
        <li>
          XGBoost <code>XGBClassifier</code>/<code>XGBRegressor</code> and LightGBM <code>LGBMClassifier</code>/<code>LGBMRegressor</code>, alone or last in a
          Pipeline;
        </li>
        <li>
          CatBoost <code>CatBoostClassifier</code>/<code>CatBoostRegressor</code>, numeric features;
        </li>
        <li>
          Pipelines that start with a <code>ColumnTransformer</code> over a pandas DataFrame (text, categories and numbers): one input per column;
        </li>
        <li>
          <code>DummyClassifier</code> and <code>DummyRegressor</code> baselines; a fitted <code>GridSearchCV</code>/<code>RandomizedSearchCV</code> (its best
          estimator).
        </li>
      </ul>
      <p class="muted">Anything else fails at register naming the estimator; export ONNX from the notebook instead.</p>
    </section>
  );
}
