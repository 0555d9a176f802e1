// Test helper: real scikit-learn models exported to ONNX by the project's Python environment (.venv).
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..", "..");
const PYTHON = join(ROOT, ".venv", "bin", "python");

/** What scikit-learn itself answered for the sample rows written beside the model. */
export type Expected = { rows: number[][]; labels: (number | string)[]; probabilities: number[][] };

export type TestModel = { onnxPath: string; joblibPath: string; expected: Expected };

/**
 * Run `scripts/make-test-model.py <dir>`: a classifier as model.onnx and model.joblib, and expected.json.
 * Throws when .venv is missing ("run scripts/setup-python.sh first") or the script fails (with its stderr).
 */
export async function makeTestModel(dir: string): Promise<TestModel> {
  await runPython([join(ROOT, "scripts", "make-test-model.py"), dir]);
  const expected = (await Bun.file(join(dir, "expected.json")).json()) as Expected;
  return { onnxPath: join(dir, "model.onnx"), joblibPath: join(dir, "model.joblib"), expected };
}

// A regressor has a different output shape ([n, 1] floats, no probabilities) from the classifier above.
const REGRESSOR = `
import json, sys
import numpy as np
from sklearn.linear_model import LinearRegression
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
rng = np.random.default_rng(0)
X = rng.normal(size=(50, 3)).astype(np.float32)
y = X @ np.array([1.5, -2.0, 0.5], dtype=np.float32) + 3.0
model = LinearRegression().fit(X, y)
onx = convert_sklearn(model, initial_types=[("input", FloatTensorType([None, 3]))], target_opset=17)
with open(sys.argv[1], "wb") as f:
    f.write(onx.SerializeToString())
rows = X[:4]
print(json.dumps({"rows": rows.tolist(), "predictions": model.predict(rows).tolist()}))
`;

/** Write a 3-feature LinearRegression as ONNX to `onnxPath`; returns sample rows and scikit-learn's predictions for them. */
export async function makeTestRegressor(onnxPath: string): Promise<{ rows: number[][]; predictions: number[] }> {
  return JSON.parse(await runPython(["-c", REGRESSOR, onnxPath]));
}

async function runPython(args: string[]): Promise<string> {
  if (!existsSync(PYTHON)) throw new Error(`no Python environment at ${PYTHON}: run scripts/setup-python.sh first`);
  const proc = Bun.spawn([PYTHON, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`${PYTHON} ${args[0] === "-c" ? "-c <script>" : args.join(" ")} exited ${code}:\n${err.trim() || out.trim()}`);
  return out;
}
