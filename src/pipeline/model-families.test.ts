// The libraries people train with, end to end: real notebooks pushed through git, each with its own requirements.txt
// installed from PyPI (XGBoost, LightGBM, CatBoost, a pandas DataFrame pipeline, a DummyClassifier baseline); each
// registers, the baseline is stored rejected by the gate and the others deploy; what they answer through /predict,
// /invocations and OIP equals what their own library predicts, computed in Python here with the same pinned versions.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { makeRepo, notebook, sendPush, startTestServer, waitForPipelines, type TestServer } from "../testing/e2e.ts";
import { registerRepo } from "../testing/pipeline-fixtures.ts";

const ROOT = resolve(import.meta.dir, "..", "..");
/** The test-suite environment with the same libraries at the same versions (scripts/model-families-requirements.txt). */
const FAMILIES_PYTHON = join(ROOT, ".venv-families", "bin", "python");

const IRIS = 'from sklearn.datasets import load_iris\nX, y = load_iris(return_X_y=True)\nX = X.astype("float32")';
const REGRESSION =
  'from sklearn.datasets import make_regression\nX, y = make_regression(n_samples=300, n_features=6, noise=5.0, random_state=0)\nX = X.astype("float32")';
// Reviews: free text, a city, a whole number of rooms, two numbers; liked or not.
const REVIEWS = `import numpy as np
import pandas as pd
rng = np.random.default_rng(0)
n = 300
words = "good bad great awful fine poor excellent terrible okay nice slow quick".split()
X = pd.DataFrame({
    "review": [" ".join(rng.choice(words, size=int(rng.integers(2, 7)))) for _ in range(n)],
    "city": rng.choice(["paris", "rome", "oslo", "lima"], n),
    "rooms": rng.integers(1, 5, n),
    "nights": rng.integers(1, 15, n).astype("float32"),
    "price": rng.normal(120.0, 40.0, n).astype("float32"),
})
y = ((X.review.str.contains("good|great|excellent")) ^ (X.city == "oslo")).astype(int)`;

type Family = {
  model: string;
  requirements: string;
  data: string;
  /** Leaves the fitted estimator in `model`. */
  training: string;
  /** The notebook's metric `score` (the repository's deploy metric). */
  score: string;
  task: "classification" | "regression";
  layout: "matrix" | "columns";
};

const families: Family[] = [
  {
    model: "xgb-iris",
    requirements: "xgboost-cpu==3.2.0\nscikit-learn==1.8.0\nnumpy==2.4.6\n",
    data: IRIS,
    training: "from xgboost import XGBClassifier\nmodel = XGBClassifier(n_estimators=40, max_depth=3).fit(X, y)",
    score: "float((model.predict(X) == y).mean())",
    task: "classification",
    layout: "matrix",
  },
  {
    model: "lgbm-regression",
    requirements: "lightgbm==4.7.0\nscikit-learn==1.8.0\nnumpy==2.4.6\n",
    data: REGRESSION,
    training: "from lightgbm import LGBMRegressor\nmodel = LGBMRegressor(n_estimators=60, verbose=-1).fit(X, y)",
    score: "float(model.score(X, y))",
    task: "regression",
    layout: "matrix",
  },
  {
    model: "catboost-iris",
    requirements: "catboost==1.2.10\nscikit-learn==1.8.0\nnumpy==2.4.6\n",
    data: IRIS,
    training:
      "from catboost import CatBoostClassifier\nmodel = CatBoostClassifier(iterations=60, verbose=0, allow_writing_files=False, thread_count=1, random_seed=0).fit(X, y)",
    score: "float((model.predict(X).reshape(-1) == y).mean())",
    task: "classification",
    layout: "matrix",
  },
  {
    model: "reviews-frame",
    requirements: "pandas==3.1.1\nscikit-learn==1.8.0\nnumpy==2.4.6\n",
    data: REVIEWS,
    training: `from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
prep = ColumnTransformer([
    ("words", TfidfVectorizer(), "review"),
    ("categories", OneHotEncoder(handle_unknown="ignore"), ["city", "rooms"]),
    ("numbers", StandardScaler(), ["nights", "price"]),
])
model = Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=1000))]).fit(X, y)`,
    score: "float((model.predict(X) == y).mean())",
    task: "classification",
    layout: "columns",
  },
  {
    model: "dummy-baseline",
    requirements: "scikit-learn==1.8.0\nnumpy==2.4.6\n",
    data: IRIS,
    training: 'from sklearn.dummy import DummyClassifier\nmodel = DummyClassifier(strategy="most_frequent").fit(X, y)',
    score: "float((model.predict(X) == y).mean())",
    task: "classification",
    layout: "matrix",
  },
];

function familyNotebook(f: Family): string {
  return notebook([
    { tags: ["mlops:config"], source: `MODEL_NAME = "${f.model}"\nVERSION = "1.0.0"` },
    { tags: ["mlops:data"], source: f.data },
    { tags: ["mlops:preprocessing"], source: "pass" },
    { tags: ["mlops:training"], source: f.training },
    { tags: ["mlops:evaluation"], source: `import json\njson.dump({"score": ${f.score}}, open(METRICS_OUTPUT_PATH, "w"))` },
    { tags: ["mlops:export"], source: "import joblib\njoblib.dump(model, MODEL_OUTPUT_PATH)" },
  ]);
}

const ROWS = 8;
type Expected = { rows: number[][] | Record<string, (string | number)[]>; labels?: (number | string)[]; probabilities?: number[][]; values?: number[] };

/** The library's own answer for the first rows of the data, from the same code in the families environment. */
async function libraryAnswer(f: Family): Promise<Expected> {
  const code = `${f.data}
${f.training}
import json
import numpy as np
rows = X[:${ROWS}] if not hasattr(X, "iloc") else X.iloc[:${ROWS}]
out = {"rows": rows.tolist() if not hasattr(rows, "to_dict") else {c: rows[c].tolist() for c in rows.columns}}
if ${f.task === "classification" ? "True" : "False"}:
    out["labels"] = np.asarray(model.predict(rows)).reshape(-1).tolist()
    out["probabilities"] = np.asarray(model.predict_proba(rows)).tolist()
else:
    out["values"] = np.asarray(model.predict(rows), dtype=np.float64).reshape(-1).tolist()
print(json.dumps(out))
`;
  const proc = Bun.spawn([FAMILIES_PYTHON, "-c", code], { stdout: "pipe", stderr: "pipe" });
  const [exit, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  if (exit !== 0) throw new Error(`the library's own answer for ${f.model} failed: ${err}`);
  return JSON.parse(out.trim().split("\n").at(-1)!) as Expected;
}

/** Float outputs agree within float32 rounding (relative to the larger of 1 and the value). */
function expectClose(got: number[], want: number[]) {
  expect(got).toHaveLength(want.length);
  for (const [i, w] of want.entries()) expect(Math.abs(got[i]! - w)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(w)));
}

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
});

type OipTensor = { name: string; datatype: string; shape: number[]; data: unknown[] };

describe("model families", () => {
  test("XGBoost, LightGBM, CatBoost, a DataFrame pipeline and a Dummy baseline, each with its own requirements.txt, register; what they serve is what their library predicts", async () => {
    expect(existsSync(FAMILIES_PYTHON)).toBe(true);
    const files: Record<string, string> = {};
    for (const f of families) {
      files[`${f.model}/requirements.txt`] = f.requirements;
      files[`${f.model}/train.ipynb`] = familyNotebook(f);
    }
    const repo = makeRepo(files);
    const repoId = await registerRepo(server, "acme/families", repo.dir, { deploy_metric: "score", deploy_threshold: 0.6 });
    expect((await sendPush(server.base, { fullName: "acme/families", cloneUrl: repo.dir, after: repo.sha })).status).toBe(202);
    const ended = await waitForPipelines(server, `repo=${repoId}`, families.length, 900_000);
    const logs = Object.fromEntries(
      await Promise.all(ended.map(async (p) => [p.notebook_path, await (await server.api(`/api/pipelines/${p.id}/logs`)).text()])),
    );
    for (const p of ended) {
      expect({ path: p.notebook_path, status: p.status, error: p.error }).toEqual({ path: p.notebook_path, status: "succeeded", error: null });
      expect(p.phases.find((ph) => ph.name === "environment")!.status).toBe("succeeded");
      expect(p.model_version).toBe(1);
    }

    for (const f of families) {
      const models = (await (await server.api(`/api/models/${f.model}`)).json()) as { versions: { version: number; status: string; reason?: string | null }[] };
      if (f.model === "dummy-baseline") {
        // The baseline registers, and the gate stores it rejected: nothing of it serves.
        expect(models.versions.map((v) => v.status)).toEqual(["rejected"]);
        expect((await fetch(`${server.base}/models/${f.model}/predict`, { method: "POST", body: '{"inputs": [[1, 2, 3, 4]]}' })).status).toBe(404);
        expect(logs[`${f.model}/train.ipynb`]).toContain("converted to ONNX");
        continue;
      }
      expect(models.versions.map((v) => v.status)).toEqual(["serving"]);
      const want = await libraryAnswer(f);
      const checkAnswer = (body: { predictions?: unknown[]; probabilities?: number[][] }, via: string) => {
        if (f.task === "classification") {
          expect({ via, labels: body.predictions }).toEqual({ via, labels: want.labels });
          expect(body.probabilities).toHaveLength(ROWS);
          for (const [i, row] of want.probabilities!.entries()) expectClose(body.probabilities![i]!, row);
        } else expectClose(body.predictions as number[], want.values!);
      };

      // native /predict
      const inputs = want.rows;
      const native = await fetch(`${server.base}/models/${f.model}/predict`, { method: "POST", body: JSON.stringify({ inputs }) });
      const nativeBody = (await native.json()) as { predictions?: unknown[]; probabilities?: number[][]; error?: string };
      expect({ via: "predict", status: native.status, error: nativeBody.error }).toEqual({ via: "predict", status: 200, error: undefined });
      checkAnswer(nativeBody, "predict");

      // MLflow's scoring protocol
      const split =
        f.layout === "columns"
          ? (() => {
              const cols = Object.keys(inputs);
              const table = inputs as Record<string, unknown[]>;
              return { columns: cols, data: Array.from({ length: ROWS }, (_, i) => cols.map((c) => table[c]![i])) };
            })()
          : { columns: (inputs as number[][])[0]!.map((_, j) => `f${j}`), data: inputs };
      const mlflow = await fetch(`${server.base}/models/${f.model}/invocations`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ dataframe_split: split }),
      });
      const mlflowBody = (await mlflow.json()) as { predictions?: unknown[]; error?: string };
      expect({ via: "invocations", status: mlflow.status, error: mlflowBody.error }).toEqual({ via: "invocations", status: 200, error: undefined });
      if (f.task === "classification") expect(mlflowBody.predictions).toEqual(want.labels!);
      else expectClose(mlflowBody.predictions as number[], want.values!);

      // Open Inference Protocol v2: one tensor per model input, from the model's metadata
      const meta = (await (await fetch(`${server.base}/v2/models/${f.model}`)).json()) as { inputs: { name: string; datatype: string; shape: number[] }[] };
      const tensors =
        f.layout === "columns"
          ? meta.inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: [ROWS, 1], data: (inputs as Record<string, unknown[]>)[i.name] }))
          : [
              {
                name: meta.inputs[0]!.name,
                datatype: meta.inputs[0]!.datatype,
                shape: [ROWS, (inputs as number[][])[0]!.length],
                data: (inputs as number[][]).flat(),
              },
            ];
      const oip = await fetch(`${server.base}/v2/models/${f.model}/infer`, { method: "POST", body: JSON.stringify({ inputs: tensors }) });
      const oipBody = (await oip.json()) as { outputs?: OipTensor[]; error?: string };
      expect({ via: "oip", status: oip.status, error: oipBody.error }).toEqual({ via: "oip", status: 200, error: undefined });
      const first = oipBody.outputs![0]!;
      if (f.task === "classification") expect(first.data).toEqual(want.labels!);
      else expectClose(first.data as number[], want.values!);
    }
  }, 1_200_000);
});
