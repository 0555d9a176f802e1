// Test helper: the mixed-type Pipelines of issue 10 (a text, a category and two number columns, one ONNX input per
// column) made by scripts/make-mixed-model.py with the project's Python environment (.venv), and what scikit-learn
// answered for the sample records written beside them.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..", "..");
const PYTHON = join(ROOT, ".venv", "bin", "python");

/** One sample row: column → value, as a pandas DataFrame record. */
export type MixedRecord = { text: string; city: string; age: number; visits: number };

/** The two model files and scikit-learn's own answers for `records`. */
export type MixedModels = {
  classifierPath: string;
  regressorPath: string;
  columns: string[];
  records: MixedRecord[];
  /** The classifier's predict and predict_proba (columns in the order of `classes`). */
  labels: string[];
  classes: string[];
  probabilities: number[][];
  /** The regressor's predict. */
  values: number[];
};

/**
 * Run `scripts/make-mixed-model.py <dir>`: classifier.onnx (outputs label, probabilities) and regressor.onnx (output
 * variable), inputs text and city (string [N, 1]), age (float32 [N, 1]), visits (int64 [N, 1]). Throws when .venv is
 * missing or the script fails (with its stderr).
 */
export async function makeMixedModels(dir: string): Promise<MixedModels> {
  if (!existsSync(PYTHON)) throw new Error(`no Python environment at ${PYTHON}: run scripts/setup-python.sh first`);
  const proc = Bun.spawn([PYTHON, join(ROOT, "scripts", "make-mixed-model.py"), dir], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`making the mixed-type test models failed (exit ${code}):\n${err.trim() || out.trim()}`);
  const expected = await Bun.file(join(dir, "expected.json")).json();
  return { classifierPath: join(dir, "classifier.onnx"), regressorPath: join(dir, "regressor.onnx"), ...expected };
}
