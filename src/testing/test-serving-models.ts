// Test helper: a multi-input scikit-learn model (two float columns and a string column, string labels) exported to
// ONNX by the project's Python environment (.venv), with what scikit-learn answered for sample rows.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..", "..");
const PYTHON = join(ROOT, ".venv", "bin", "python");

/** Sample rows in column order, and scikit-learn's labels and probabilities for them. */
export type MultiInputModel = { onnxPath: string; columns: string[]; rows: [number, number, string][]; labels: string[]; probabilities: number[][] };

const SCRIPT = `
import json, sys
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
rng = np.random.default_rng(0)
n = 300
age = rng.uniform(18, 80, n).astype(np.float32)
income = rng.uniform(10, 200, n).astype(np.float32)
city = rng.choice(["paris", "lyon", "nice"], n)
y = np.where(income / age + (city == "paris") * 1.5 > 2.5, "yes", "no")
X = pd.DataFrame({"age": age, "income": income, "city": city})
pre = ColumnTransformer([("num", StandardScaler(), ["age", "income"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"])])
model = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=1000))]).fit(X, y)
types = [("age", FloatTensorType([None, 1])), ("income", FloatTensorType([None, 1])), ("city", StringTensorType([None, 1]))]
onx = convert_sklearn(model, initial_types=types, options={LogisticRegression: {"zipmap": False}}, target_opset=17)
with open(sys.argv[1], "wb") as f:
    f.write(onx.SerializeToString())
rows = X.iloc[[0, 1, 2, 3, 4]]
print(json.dumps({
    "columns": ["age", "income", "city"],
    "rows": [[float(a), float(b), str(c)] for a, b, c in rows.itertuples(index=False)],
    "labels": model.predict(rows).tolist(),
    "probabilities": model.predict_proba(rows).tolist(),
}))
`;

/**
 * Write the model to `onnxPath`: inputs age and income (float32 [N, 1]) and city (string [N, 1]); outputs label
 * (string [N]) and probabilities (float32 [N, 2]). Throws when .venv is missing or the script fails.
 */
export async function makeMultiInputModel(onnxPath: string): Promise<MultiInputModel> {
  if (!existsSync(PYTHON)) throw new Error(`no Python environment at ${PYTHON}: run scripts/setup-python.sh first`);
  const proc = Bun.spawn([PYTHON, "-c", SCRIPT, onnxPath], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`making the multi-input test model failed (exit ${code}):\n${err.trim() || out.trim()}`);
  return { onnxPath, ...JSON.parse(out) };
}
