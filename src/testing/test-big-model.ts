// Test helper: a big ONNX model (a random forest of deep trees, tens of MB) whose loading takes hundreds of ms,
// exported by the project's Python environment (.venv).
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..", "..");
const PYTHON = join(ROOT, ".venv", "bin", "python");

// Random labels make every tree grow to its leaves: size (and load time) grows with samples × trees.
const SCRIPT = `
import sys
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
rng = np.random.default_rng(0)
X = rng.normal(size=(int(sys.argv[2]), 4)).astype(np.float32)
y = rng.integers(0, 3, len(X))
model = RandomForestClassifier(n_estimators=int(sys.argv[3]), random_state=0, n_jobs=1).fit(X, y)
onx = convert_sklearn(model, initial_types=[("input", FloatTensorType([None, 4]))], options={id(model): {"zipmap": False}}, target_opset=17)
with open(sys.argv[1], "wb") as f:
    f.write(onx.SerializeToString())
`;

/**
 * Write a 4-feature, 3-class random forest to `onnxPath` (zipmap off: label int64 [N], probabilities float32 [N, 3]).
 * The defaults give about 40 MB, which onnxruntime takes roughly half a second to load here.
 * Throws when .venv is missing or the script fails.
 */
export async function makeBigModel(onnxPath: string, opts: { samples?: number; trees?: number } = {}): Promise<string> {
  if (!existsSync(PYTHON)) throw new Error(`no Python environment at ${PYTHON}: run scripts/setup-python.sh first`);
  const args = [PYTHON, "-c", SCRIPT, onnxPath, String(opts.samples ?? 8000), String(opts.trees ?? 160)];
  const proc = Bun.spawn(args, { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`making the big test model failed (exit ${code}):\n${err.trim()}`);
  return onnxPath;
}
